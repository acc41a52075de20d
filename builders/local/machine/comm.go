package machine

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"github.com/pipebuild/pipe/stages"
)

// Communicator reaches a local machine. Each operation runs in its own
// helper process that mounts the machine, does the one thing, and exits,
// taking every mount and every process it started with it.
//
// Operations on one machine are serialised by a lock on its work directory;
// they may be called from several goroutines.
type Communicator struct {
	root Root
}

var _ stages.Communicator = (*Communicator)(nil)

// Run runs cmd.Command with /bin/sh -c with the machine as its root, with
// /proc, /sys, /dev and resolv.conf mounted, and returns its exit status
// (128+N for a command killed by signal N). Processes the command leaves
// running are killed before Run returns.
func (c *Communicator) Run(ctx context.Context, cmd *stages.Cmd) (int, error) {
	req := &request{Op: opRun, Root: c.root, Command: cmd.Command, Env: cmd.Env, User: cmd.User}
	res, err := call(ctx, req, streams{cmd.Stdin, cmd.Stdout, cmd.Stderr})
	if err != nil {
		return -1, fmt.Errorf("run in %s: %w", c.root.Merged, err)
	}
	return res.Exit, nil
}

// Upload writes r to the machine path p with mode. The parent directory must
// exist, and p must not be a symlink.
func (c *Communicator) Upload(ctx context.Context, p string, r io.Reader, mode fs.FileMode) error {
	req := &request{Op: opUpload, Root: c.root, Path: p, Mode: mode}
	if _, err := call(ctx, req, streams{stdin: r}); err != nil {
		return fmt.Errorf("upload to %s: %w", p, err)
	}
	return nil
}

// UploadDir copies the host directory src into the machine directory dst:
// with a trailing slash on src its contents, otherwise src itself as
// dst/<base of src>. The directory receiving the copy is created if missing;
// its parent must exist. Modes and symlinks are kept; files are owned by
// root.
func (c *Communicator) UploadDir(ctx context.Context, dst, src string) error {
	target := dst
	if !strings.HasSuffix(src, "/") {
		target = path.Join(dst, filepath.Base(filepath.Clean(src)))
	}
	// The helper opens src before it enters the machine, but a relative path would
	// still be resolved against a working directory pipe may change, and a
	// symlinked src (the user named it) is followed here, once.
	dir, err := filepath.EvalSymlinks(src)
	if err == nil {
		dir, err = filepath.Abs(dir)
	}
	if err != nil {
		return fmt.Errorf("upload %s: %w", src, err)
	}
	req := &request{Op: opUploadDir, Root: c.root, Path: target, Src: dir}
	if _, err := call(ctx, req, streams{}); err != nil {
		return fmt.Errorf("upload %s to %s: %w", src, target, err)
	}
	return nil
}

// Download copies the machine file p to w. Symlinks are followed inside the
// machine (so /etc/os-release works on Debian), never out of it.
func (c *Communicator) Download(ctx context.Context, p string, w io.Writer) error {
	req := &request{Op: opDownload, Root: c.root, Path: p}
	if _, err := call(ctx, req, streams{stdout: w}); err != nil {
		return fmt.Errorf("download %s: %w", p, err)
	}
	return nil
}
