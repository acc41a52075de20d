package null

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pipebuild/pipe/stages"
)

// copyTree copies the tree at src to the host paths that place returns for
// each entry's slash-free relative path ("." for src itself). It never
// follows symlinks inside src: a link is copied as a link with the same
// target, which in a machine tree is meaningful only inside the machine.
//
// Modes are kept, setuid, setgid and sticky bits included. A directory that
// already exists at the destination keeps its own mode, so that uploading
// into "/" does not chmod the machine's root. Directory modes are applied
// last, so that a read-only directory can still be filled.
func copyTree(ctx context.Context, src string, place func(rel string) (string, error)) error {
	type dirMode struct {
		path string
		mode fs.FileMode
	}
	var created []dirMode
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		dst, err := place(rel)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch mode := info.Mode(); {
		case mode.IsDir():
			made, err := mkdir(dst)
			if made {
				created = append(created, dirMode{dst, mode})
			}
			return err
		case mode&fs.ModeSymlink != 0:
			return copySymlink(p, dst)
		case mode.IsRegular():
			return copyFile(p, dst, mode)
		default:
			return fmt.Errorf("copy %s: unsupported file type %s", p, mode.Type())
		}
	})
	for i := len(created) - 1; i >= 0; i-- {
		if cerr := os.Chmod(created[i].path, stages.KeptMode(created[i].mode)); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}

// mkdir creates dir, owner-writable until copyTree applies its real mode,
// and reports whether it made it.
func mkdir(dir string) (bool, error) {
	err := os.Mkdir(dir, 0o700)
	if err == nil {
		return true, nil
	}
	if fi, serr := os.Lstat(dir); serr == nil && fi.IsDir() {
		return false, nil
	}
	return false, fmt.Errorf("create directory %s: %w", dir, err)
}

func copySymlink(src, dst string) error {
	target, err := os.Readlink(src)
	if err != nil {
		return err
	}
	// An upload replaces whatever non-directory was at dst, as cp does.
	if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("replace %s: %w", dst, err)
	}
	if err := os.Symlink(target, dst); err != nil {
		return fmt.Errorf("create symlink %s: %w", dst, err)
	}
	return nil
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return stages.WriteHostFile(dst, in, mode)
}

// unixMode renders stages.KeptMode as the octal number users know (04755).
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m & fs.ModePerm)
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// digestTree returns the hex sha256 of the tree at root: one line per entry
// in lexical order with its relative path, type, mode, and symlink target or
// content digest. Times and owners are left out, so that the same content
// built twice gives the same digest and downstream keys do not change.
func digestTree(ctx context.Context, root string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode()
		rel = filepath.ToSlash(rel)
		switch {
		case mode.IsDir():
			fmt.Fprintf(h, "%q dir %04o\n", rel, unixMode(mode))
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%q symlink %04o %q\n", rel, unixMode(mode), target)
		case mode.IsRegular():
			sum, err := fileDigest(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%q file %04o %s\n", rel, unixMode(mode), sum)
		default:
			return fmt.Errorf("unsupported file type %s", mode.Type())
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("digest %s: %w", root, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func fileDigest(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// removeTree removes the tree at root even when a script left directories
// without write permission in it, which os.RemoveAll alone cannot empty.
func removeTree(root string) error {
	if err := os.RemoveAll(root); err == nil {
		return nil
	}
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(root)
}
