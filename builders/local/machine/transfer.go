package machine

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"

	"github.com/pipebuild/pipe/stages"
)

// The functions here run in the helper after it entered the merged
// tree: every machine path is resolved by the kernel inside the tree.

// upload writes r to the machine path p with mode. The final component must
// not be a symlink (O_NOFOLLOW) nor anything but a regular file: writing to
// a FIFO would hang, and to a device would reach the host's.
func upload(p string, r io.Reader, mode fs.FileMode) error {
	if fi, err := os.Lstat(p); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("write %s: is a %s, not a regular file", p, fileType(fi))
	}
	return stages.WriteHostFile(p, r, mode)
}

// download copies the machine file p to w. Symlinks are followed: inside
// the tree they cannot lead out.
func download(p string, w io.Writer) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("read %s: is a %s, not a regular file", p, fileType(fi))
	}
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	return nil
}

// uploadDirOp opens the host directory before entering the tree, then copies it
// into the machine.
func uploadDirOp(req *request) (int, error) {
	src, err := os.OpenRoot(req.Src)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	if err := enter(req.Root.Merged); err != nil {
		return 0, err
	}
	return 0, copyTree(src, req.Path)
}

// copyTree copies the tree under src to the machine directory dst. Links
// are copied as links, never followed. Directories that already exist keep
// their mode (uploading into "/" must not chmod the machine's root); the
// modes of new ones are applied last, so that a read-only directory can
// still be filled.
func copyTree(src *os.Root, dst string) error {
	type dirMode struct {
		path string
		mode fs.FileMode
	}
	var created []dirMode
	err := walk(src, ".", func(rel string, fi fs.FileInfo) error {
		target := path.Join(dst, rel)
		switch mode := fi.Mode(); {
		case mode.IsDir():
			made, err := mkdir(target)
			if made {
				created = append(created, dirMode{target, mode})
			}
			return err
		case mode&fs.ModeSymlink != 0:
			return copySymlink(src, rel, target)
		case mode.IsRegular():
			return copyFile(src, rel, target, mode)
		default:
			return fmt.Errorf("copy %s: unsupported file type %s", rel, mode.Type())
		}
	})
	for i := len(created) - 1; i >= 0; i-- {
		if cerr := os.Chmod(created[i].path, stages.KeptMode(created[i].mode)); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}

// walk calls fn for rel and, for a directory, for everything under it in
// lexical order. It reads the host tree only through src, by descriptor:
// host path names mean nothing inside the tree.
func walk(src *os.Root, rel string, fn func(rel string, fi fs.FileInfo) error) error {
	fi, err := src.Lstat(rel)
	if err != nil {
		return err
	}
	if err := fn(rel, fi); err != nil || !fi.IsDir() {
		return err
	}
	d, err := src.Open(rel)
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("read directory %s: %w", rel, err)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := walk(src, path.Join(rel, name), fn); err != nil {
			return err
		}
	}
	return nil
}

// mkdir creates dir, owner-writable until copyTree applies its real mode,
// and reports whether it made it. An existing directory, or a symlink to
// one inside the machine, receives the copy.
func mkdir(dir string) (bool, error) {
	err := os.Mkdir(dir, 0o700)
	if err == nil {
		return true, nil
	}
	if fi, serr := os.Stat(dir); serr == nil && fi.IsDir() {
		return false, nil
	}
	return false, fmt.Errorf("create directory %s: %w", dir, err)
}

func copySymlink(src *os.Root, rel, dst string) error {
	target, err := src.Readlink(rel)
	if err != nil {
		return err
	}
	// An upload replaces whatever non-directory was at dst, as cp does.
	if err := os.Remove(dst); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("replace %s: %w", dst, err)
	}
	if err := os.Symlink(target, dst); err != nil {
		return fmt.Errorf("create symlink %s: %w", dst, err)
	}
	return nil
}

func copyFile(src *os.Root, rel, dst string, mode fs.FileMode) error {
	in, err := src.Open(rel)
	if err != nil {
		return err
	}
	defer in.Close()
	return upload(dst, in, mode)
}

func fileType(fi fs.FileInfo) string {
	if fi.IsDir() {
		return "directory"
	}
	return fi.Mode().Type().String()
}
