// Package stages defines what a stage does inside a machine: provisioners
// (shell, file, shell-local, …) that reach any builder's machine through a
// Communicator. Provisioners never assume how the machine is reached: the
// same code runs in a chroot, over SSH, or on the host.
package stages

import (
	"context"
	"io"
	"io/fs"

	"github.com/pipebuild/pipe/pipeline/cache"
)

// Provisioner is one provisioner type ("shell", "file", "shell-local").
type Provisioner interface {
	// Type is the key used in a stage's `provision:` list.
	Type() string
	// NewConfig returns a pointer to a zero config struct; the schema decodes
	// YAML into it strictly.
	NewConfig() any
	// Prepare validates a resolved config with no side effects. dir is the
	// pipeline file's directory, against which relative paths resolve.
	Prepare(cfg any, dir string) error
	// Key writes the lines that determine what the provisioner does: its
	// resolved spec and every local file it reads (through k.File).
	Key(cfg any, dir string, k *cache.Key) error
	// Run executes the provisioner.
	Run(ctx context.Context, cfg any, env *Env) error
}

// Env is what a provisioner is given to run.
type Env struct {
	// Node is the node's name, "stage@builder".
	Node string
	// BuilderType is the node's builder type (PACKER_BUILDER_TYPE's analogue).
	BuilderType string
	// Dir is the pipeline file's directory.
	Dir string
	// Comm reaches the machine.
	Comm Communicator
	// HostDir is the host directory that stands for the machine, when there is
	// one (the null builder's work directory); shell-local runs there.
	// Otherwise it is empty and shell-local runs in Dir.
	HostDir string
	// Stdout and Stderr receive the provisioner's output, already masked for
	// secrets and prefixed with the node name.
	Stdout, Stderr io.Writer
}

// Communicator reaches a machine: run commands, move files in and out.
// Paths are paths inside the machine.
type Communicator interface {
	// Run runs cmd.Command with /bin/sh -c inside the machine and returns its
	// exit status. err is non-nil only when the command could not be run.
	Run(ctx context.Context, cmd *Cmd) (exitStatus int, err error)
	// Upload writes r to path inside the machine with the given mode.
	Upload(ctx context.Context, path string, r io.Reader, mode fs.FileMode) error
	// UploadDir copies the host directory src to dst inside the machine, with
	// Packer's rules: src with a trailing slash copies its contents into dst,
	// without it copies the directory itself into dst.
	UploadDir(ctx context.Context, dst, src string) error
	// Download copies path from inside the machine to w.
	Download(ctx context.Context, path string, w io.Writer) error
}

// Cmd is a command to run in a machine.
type Cmd struct {
	// Command is a shell command line.
	Command string
	// Env holds extra environment variables as KEY=VALUE.
	Env []string
	// User runs the command as this user, when the communicator supports it.
	User string
	// Stdin, Stdout and Stderr are the command's streams; nil means empty or
	// discarded.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}
