package ssh

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"time"
)

// cleanupTimeout bounds removing a failed upload's temporary file, which
// also runs after ctx was cancelled.
const cleanupTimeout = 30 * time.Second

// Upload writes r to path in the machine with mode (setuid, setgid and
// sticky bits included), replacing any file there at once: the stream goes
// to a temporary name beside path, renamed into place only when all of r
// arrived. It takes two sessions because the machine cannot tell the end of
// r from a broken stream: sshd closes the command's stdin either way. The
// parent directory must exist.
func (c *Communicator) Upload(ctx context.Context, path string, r io.Reader, mode fs.FileMode) error {
	tmp, err := tempName(path)
	if err != nil {
		return fmt.Errorf("upload %s: %w", path, err)
	}
	q, qtmp := quote(path), quote(tmp)
	if err := c.script(ctx, "cat > "+qtmp, r, nil); err != nil {
		c.removeAfter(ctx, qtmp)
		return fmt.Errorf("upload %s: %w", path, err)
	}
	commit := fmt.Sprintf("chmod %04o %s && mv -f %s %s || { rm -f %s; exit 1; }", unixMode(mode), qtmp, qtmp, q, qtmp)
	if err := c.script(ctx, commit, nil, nil); err != nil {
		c.removeAfter(ctx, qtmp)
		return fmt.Errorf("upload %s: %w", path, err)
	}
	return nil
}

// UploadDir copies the host directory src into dst in the machine, with
// Packer's rule: with a trailing slash on src its contents, otherwise src
// itself as dst/<base of src>. dst is created with its parents when missing;
// an existing dst keeps its mode. Entries are owned by the login user, as
// scp would leave them (root's tar would otherwise restore the host's uids).
func (c *Communicator) UploadDir(ctx context.Context, dst, src string) error {
	prefix := ""
	if !strings.HasSuffix(src, "/") {
		prefix = filepath.Base(filepath.Clean(src))
	}
	// The source may itself be a symlink to a directory (the user named it);
	// links inside it are copied as links.
	dir, err := filepath.EvalSymlinks(src)
	if err != nil {
		return fmt.Errorf("upload %s: %w", src, err)
	}
	pr, pw := io.Pipe()
	wrote := make(chan error, 1)
	go func() {
		err := writeTar(ctx, pw, dir, prefix)
		pw.CloseWithError(err)
		wrote <- err
	}()
	// umask 0: a non-root tar would mask the archive's modes; root's keeps
	// them anyway.
	q := quote(dst)
	err = c.script(ctx, "mkdir -p "+q+" && umask 0 && tar -xf - -C "+q, pr, nil)
	pr.CloseWithError(io.ErrClosedPipe) // unblocks writeTar if tar quit early
	if werr := <-wrote; werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("upload %s to %s: %w", src, dst, err)
	}
	return nil
}

// Download copies the file path in the machine to w.
func (c *Communicator) Download(ctx context.Context, path string, w io.Writer) error {
	if err := c.script(ctx, "cat "+quote(path), nil, w); err != nil {
		return fmt.Errorf("download %s: %w", path, err)
	}
	return nil
}

// script runs a shell line of the Communicator's own as the login user and
// turns a failure into an error carrying the tail of its stderr.
func (c *Communicator) script(ctx context.Context, line string, stdin io.Reader, stdout io.Writer) error {
	r, err := newRemote("", "", line)
	if err != nil {
		return err
	}
	var stderr tail
	status, err := c.run(ctx, r, stdin, stdout, &stderr)
	if err != nil {
		return err
	}
	if status != 0 {
		if msg := stderr.String(); msg != "" {
			return fmt.Errorf("%s (exit status %d)", msg, status)
		}
		return fmt.Errorf("%s: exit status %d", line, status)
	}
	return nil
}

// removeAfter removes a temporary file, also when ctx has ended; a leftover
// is only litter, so its failure is ignored.
func (c *Communicator) removeAfter(ctx context.Context, quoted string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_ = c.script(ctx, "rm -f "+quoted, nil, nil)
}

// tempName returns a unique name beside path, so that concurrent uploads of
// one path do not write into each other's file.
func tempName(path string) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return path + ".pipe-tmp-" + hex.EncodeToString(b[:]), nil
}

// unixMode returns mode's permission bits as chmod and tar write them.
func unixMode(mode fs.FileMode) uint32 {
	m := uint32(mode.Perm())
	if mode&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if mode&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if mode&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	return m
}

// tail keeps the last tailSize bytes written to it: enough of a failing
// command's stderr for an error message.
type tail struct{ b []byte }

const tailSize = 2048

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > tailSize {
		t.b = append(t.b[:0], t.b[len(t.b)-tailSize:]...)
	}
	return len(p), nil
}

func (t *tail) String() string { return strings.TrimSpace(string(t.b)) }
