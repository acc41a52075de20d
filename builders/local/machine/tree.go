package machine

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// tree records what the helper added to the merged tree for a Run (mount
// points it had to create, mounts, policy-rc.d), so that undo can take it
// all away again and the upper directory keeps only the command's changes.
//
// It works inside the tree: "/" is the merged tree.
type tree struct {
	created []createdPath
	mounts  []string
}

// createdPath is a path the helper created. A file is removed only if it
// still holds content, so that one the command rewrote is kept.
type createdPath struct {
	path    string
	dir     bool
	content []byte
}

// ensureDir makes sure the directory p exists, creating it and any missing
// parents with mode, and returns its resolved path.
func (t *tree) ensureDir(p string, mode fs.FileMode) (string, error) {
	return t.ensure(p, true, mode, nil)
}

// ensureFile makes sure the regular file p exists, creating it (with
// content) and any missing parents, and returns its resolved path.
func (t *tree) ensureFile(p string, mode fs.FileMode, content []byte) (string, error) {
	return t.ensure(p, false, mode, content)
}

// ensure resolves p inside the tree with securejoin, so that symlinks in the
// image are followed as the machine would follow them (a dangling
// /etc/resolv.conf -> ../run/… included), then creates what is missing one
// component at a time, recording each creation.
func (t *tree) ensure(p string, dir bool, mode fs.FileMode, content []byte) (string, error) {
	resolved, err := securejoin.SecureJoin("/", p)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", p, err)
	}
	parts := strings.Split(strings.TrimPrefix(resolved, "/"), "/")
	cur := "/"
	for i, part := range parts {
		cur = path.Join(cur, part)
		wantDir := dir || i < len(parts)-1
		fi, err := os.Lstat(cur)
		switch {
		case err == nil && fi.IsDir() == wantDir && fi.Mode().IsRegular() != wantDir:
			continue
		case err == nil && wantDir:
			return "", fmt.Errorf("need %s as a directory in the machine, but it is a %s", cur, fi.Mode().Type())
		case err == nil:
			return "", fmt.Errorf("need %s as a regular file in the machine, but it is a %s", cur, fi.Mode().Type())
		case !errors.Is(err, fs.ErrNotExist):
			return "", err
		}
		if err := t.create(cur, wantDir, mode, content); err != nil {
			return "", err
		}
	}
	return resolved, nil
}

func (t *tree) create(p string, dir bool, mode fs.FileMode, content []byte) error {
	if dir {
		if err := os.Mkdir(p, 0o755); err != nil {
			return fmt.Errorf("create mount point %s: %w", p, err)
		}
		t.created = append(t.created, createdPath{path: p, dir: true})
		// Chmod, not Mkdir's mode: the umask would drop /tmp's sticky bit.
		return os.Chmod(p, mode)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", p, err)
	}
	t.created = append(t.created, createdPath{path: p, content: content})
	_, err = f.Write(content)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// mounted records that p is a mount point to detach in undo.
func (t *tree) mounted(p string) {
	t.mounts = append(t.mounts, p)
}

// undo detaches the mounts and removes what was created, newest first. A
// directory the command filled (say /tmp) and a file it rewrote are the
// command's now and stay.
func (t *tree) undo() error {
	var errs []error
	for i := len(t.mounts) - 1; i >= 0; i-- {
		// MNT_DETACH takes submounts (/dev/pts) along and cannot be refused
		// by a process still using the mount.
		if err := unix.Unmount(t.mounts[i], unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", t.mounts[i], err))
		}
	}
	t.mounts = nil
	for i := len(t.created) - 1; i >= 0; i-- {
		if err := t.created[i].remove(); err != nil {
			errs = append(errs, err)
		}
	}
	t.created = nil
	return errors.Join(errs...)
}

func (c createdPath) remove() error {
	if !c.dir {
		got, err := os.ReadFile(c.path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || !bytes.Equal(got, c.content) {
			return nil
		}
	}
	err := os.Remove(c.path)
	if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
		return nil
	}
	return fmt.Errorf("remove %s, created by pipe: %w", c.path, err)
}
