// Package shell implements the "shell" provisioner: scripts uploaded to the
// machine and run there through its Communicator. It assumes nothing about
// how the machine is reached (chroot, SSH, the host), only that it has a
// POSIX shell.
package shell

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pipebuild/pipe/pipeline/cache"
	"github.com/pipebuild/pipe/stages"
	"github.com/pipebuild/pipe/stages/internal/script"
)

// keyVersion changes when what this provisioner does with the same config
// changes, to invalidate its keys on purpose.
const keyVersion = "1"

// Defaults. Packer's execute_command starts with "chmod +x {{.Path}};":
// pipe uploads scripts executable already, and a chmod would fail for a
// script run as another user (user:), which does not own it.
const (
	DefaultExecuteCommand = "{{.Vars}} {{.Path}}"
	DefaultRemoteFolder   = "/tmp"
)

// cleanupTimeout bounds the best-effort removal of an uploaded script, which
// also runs after the attempt was cancelled or timed out.
const cleanupTimeout = 30 * time.Second

// Config is the configuration of a `shell:` provisioner. Exactly one of
// inline, script and scripts is required.
type Config struct {
	// Inline is a list of commands, uploaded as one script that stops at the
	// first failing command (unless the first line is its own "#!" line).
	Inline []string `yaml:"inline"`
	// Script is a local script file, relative to the pipeline file.
	Script string `yaml:"script"`
	// Scripts are local script files, relative to the pipeline file, run in
	// order.
	Scripts []string `yaml:"scripts"`
	// Env sets environment variables for the scripts.
	Env map[string]string `yaml:"env"`
	// EnvironmentVars sets environment variables as "NAME=VALUE" (Packer's form).
	EnvironmentVars []string `yaml:"environment_vars"`
	// ExecuteCommand is the shell command that runs each uploaded script;
	// {{.Vars}} becomes NAME='VALUE' assignments and {{.Path}} the script's
	// path in the machine. Default: "{{.Vars}} {{.Path}}" (scripts are
	// uploaded executable).
	ExecuteCommand string `yaml:"execute_command"`
	// InlineShebang is the interpreter line of the inline script.
	// Default: "/bin/sh -e".
	InlineShebang string `yaml:"inline_shebang"`
	// RemoteFolder is the machine directory scripts are uploaded to.
	// Default: "/tmp".
	RemoteFolder string `yaml:"remote_folder"`
	// ValidExitCodes are the exit codes that count as success. Default: [0].
	ValidExitCodes []int `yaml:"valid_exit_codes"`
	// Timeout bounds each attempt ("5m").
	Timeout stages.Duration `yaml:"timeout"`
	// MaxRetries re-runs the whole provisioner up to this many more times
	// after a failure.
	MaxRetries int `yaml:"max_retries"`
	// User runs the scripts as this user of the machine (a name, or
	// uid[:gid]); default root. The local builder supports it.
	User string `yaml:"user"`
}

// Provisioner is the "shell" provisioner.
type Provisioner struct{}

var _ stages.Provisioner = (*Provisioner)(nil)

// New returns the shell provisioner.
func New() *Provisioner { return &Provisioner{} }

// Type returns "shell".
func (*Provisioner) Type() string { return "shell" }

// NewConfig returns a zero *Config.
func (*Provisioner) NewConfig() any { return &Config{} }

// Prepare checks that exactly one script source is given, that the
// environment is well-formed and that script files exist.
func (*Provisioner) Prepare(cfg any, dir string) error {
	c, err := config(cfg)
	if err != nil {
		return err
	}
	return script.Prepare(dir, script.Sources{Inline: c.Inline, Script: c.Script, Scripts: c.Scripts,
		Env: c.Env, EnvironmentVars: c.EnvironmentVars, MaxRetries: c.MaxRetries})
}

// Key writes the script text, environment, command, shebang, folder and exit
// codes, and the content of every script file.
func (*Provisioner) Key(cfg any, dir string, k *cache.Key) error {
	c, err := config(cfg)
	if err != nil {
		return err
	}
	env, err := script.Env(c.Env, c.EnvironmentVars)
	if err != nil {
		return err
	}
	k.Add("version", keyVersion)
	k.Add("execute_command", or(c.ExecuteCommand, DefaultExecuteCommand))
	k.Add("inline_shebang", or(c.InlineShebang, script.DefaultShebang))
	k.Add("remote_folder", or(c.RemoteFolder, DefaultRemoteFolder))
	if c.User != "" {
		k.Add("user", c.User)
	}
	return script.Key(k, dir, c.Inline, env, c.ValidExitCodes, script.Paths(c.Script, c.Scripts))
}

// Run uploads and runs the scripts in the machine, retrying and timing out
// as configured.
func (*Provisioner) Run(ctx context.Context, cfg any, env *stages.Env) error {
	c, err := config(cfg)
	if err != nil {
		return err
	}
	vars, err := script.Env(c.Env, c.EnvironmentVars)
	if err != nil {
		return err
	}
	vars = append([]string{"PIPE_NODE=" + env.Node, "PIPE_BUILDER_TYPE=" + env.BuilderType}, vars...)
	r := stages.Retry{MaxRetries: c.MaxRetries, Timeout: c.Timeout, Log: env.Stderr}
	return r.Do(ctx, func(ctx context.Context) error {
		if len(c.Inline) > 0 {
			text := script.Inline(or(c.InlineShebang, script.DefaultShebang), c.Inline)
			return runScript(ctx, c, env, vars, 0, "inline", strings.NewReader(text))
		}
		for n, p := range script.Paths(c.Script, c.Scripts) {
			if err := runFile(ctx, c, env, vars, n, p); err != nil {
				return err
			}
		}
		return nil
	})
}

func runFile(ctx context.Context, c *Config, env *stages.Env, vars []string, n int, p string) error {
	f, err := os.Open(script.Resolve(env.Dir, p))
	if err != nil {
		return fmt.Errorf("script %s: %w", p, err)
	}
	defer f.Close()
	return runScript(ctx, c, env, vars, n, p, f)
}

// runScript uploads one script under a fresh name, runs it and removes it.
func runScript(ctx context.Context, c *Config, env *stages.Env, vars []string, n int, name string, r io.Reader) error {
	remote, err := remotePath(or(c.RemoteFolder, DefaultRemoteFolder), n)
	if err != nil {
		return err
	}
	if err := env.Comm.Upload(ctx, remote, r, 0o755); err != nil {
		return fmt.Errorf("script %s: upload to %s: %w", name, remote, err)
	}
	defer removeRemote(ctx, env.Comm, remote)

	command := strings.NewReplacer(
		"{{.Vars}}", script.Quote(vars), "{{ .Vars }}", script.Quote(vars),
		"{{.Path}}", remote, "{{ .Path }}", remote,
	).Replace(or(c.ExecuteCommand, DefaultExecuteCommand))
	status, err := env.Comm.Run(ctx, &stages.Cmd{Command: command, User: c.User, Stdout: env.Stdout, Stderr: env.Stderr})
	if err == nil {
		err = script.CheckExit(status, c.ValidExitCodes)
	}
	if err != nil {
		return fmt.Errorf("script %s: %w", name, err)
	}
	return nil
}

// remotePath names the n-th script uniquely, so that concurrent or retried
// runs in one machine never run each other's scripts. The folder is joined
// by hand: path.Join would turn "./pipe-script…" into a bare name that a
// shell looks up in PATH.
func remotePath(folder string, n int) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("name remote script: %w", err)
	}
	return fmt.Sprintf("%s/pipe-script-%d-%s.sh", strings.TrimSuffix(folder, "/"), n, hex.EncodeToString(b[:])), nil
}

// removeRemote deletes an uploaded script, also after ctx ended; a leftover
// in a temporary folder is harmless, so its failure is ignored.
func removeRemote(ctx context.Context, comm stages.Communicator, remote string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, _ = comm.Run(ctx, &stages.Cmd{Command: "rm -f " + script.QuoteValue(remote)})
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func config(cfg any) (*Config, error) {
	c, ok := cfg.(*Config)
	if !ok || c == nil {
		return nil, fmt.Errorf("shell: config is %T, want *shell.Config", cfg)
	}
	return c, nil
}
