package null

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/pipebuild/pipe/stages"
)

// Communicator reaches a null machine: commands run on the host in the tree,
// and machine paths in transfers resolve inside the tree, with symlinks
// evaluated as if the tree were the root of the filesystem. A link such as
// root/etc -> / therefore points at root itself, never at the host's /.
type Communicator struct {
	root string
}

var _ stages.Communicator = (*Communicator)(nil)

// Run runs cmd.Command with /bin/sh -c on the host, in the tree.
func (c *Communicator) Run(ctx context.Context, cmd *stages.Cmd) (int, error) {
	return stages.RunHost(ctx, []string{"/bin/sh", "-c", cmd.Command}, c.root, cmd)
}

// Upload writes r to the machine path p with mode. The parent directory must
// exist, as it must on a real machine.
func (c *Communicator) Upload(ctx context.Context, p string, r io.Reader, mode fs.FileMode) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	host, err := c.path(p)
	if err != nil {
		return err
	}
	return stages.WriteHostFile(host, r, mode)
}

// UploadDir copies the host directory src into the machine directory dst:
// with a trailing slash on src its contents, otherwise src itself as
// dst/<base of src>. The directory receiving the copy is created if missing;
// its parent must exist.
func (c *Communicator) UploadDir(ctx context.Context, dst, src string) error {
	target := dst
	if !strings.HasSuffix(src, "/") {
		target = path.Join(dst, filepath.Base(filepath.Clean(src)))
	}
	// The source may itself be a symlink to a directory (the user named it);
	// links inside it are copied as links.
	dir, err := filepath.EvalSymlinks(src)
	if err != nil {
		return fmt.Errorf("upload %s: %w", src, err)
	}
	return copyTree(ctx, dir, func(rel string) (string, error) {
		// Resolve every entry anew: an entry copied earlier may be a symlink
		// that a later entry's path runs through.
		return c.path(path.Join(target, filepath.ToSlash(rel)))
	})
}

// Download copies the machine file p to w.
func (c *Communicator) Download(ctx context.Context, p string, w io.Writer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	host, err := c.path(p)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(host, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("download %s: %w", p, err)
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("download %s: %w", p, err)
	}
	return nil
}

// path resolves the machine path p to a host path inside the tree.
func (c *Communicator) path(p string) (string, error) {
	host, err := securejoin.SecureJoin(c.root, p)
	if err != nil {
		return "", fmt.Errorf("resolve %s in %s: %w", p, c.root, err)
	}
	return host, nil
}
