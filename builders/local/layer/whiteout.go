package layer

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// opaqueXattr marks an overlay directory opaque. Setting it needs
// CAP_SYS_ADMIN.
const opaqueXattr = "trusted.overlay.opaque"

// whiteout applies a `.wh.` entry named name in directory dir.
func (x *extractor) whiteout(dir, name string) error {
	if name == opaqueMarker {
		return x.opaque(dir)
	}
	target := strings.TrimPrefix(name, whiteoutPrefix)
	switch {
	case target == "" || target == "." || target == "..":
		return fmt.Errorf("%w: whiteout of %q", ErrUnsafeEntry, target)
	case strings.HasPrefix(target, whiteoutPrefix):
		// aufs bookkeeping (.wh..wh.plnk and friends) has no meaning here.
		x.warn(fmt.Sprintf("skipping aufs metadata %s", path.Join(dir, name)))
		return nil
	}
	rel := path.Join(dir, target)
	if x.opts.Whiteouts == WhiteoutsDelete {
		return x.deleteHidden(dir, target, rel)
	}
	pfd, err := x.dir(dir, true)
	if err != nil {
		return err
	}
	err = unix.Mknodat(pfd, target, unix.S_IFCHR, 0)
	if errors.Is(err, unix.EEXIST) {
		return nil // an entry of this same layer, which its whiteout must not hide
	}
	if err != nil {
		return fmt.Errorf("make overlay whiteout: %w", err)
	}
	return nil
}

// deleteHidden applies a whiteout by removing dir/target, unless this layer
// wrote it.
func (x *extractor) deleteHidden(dir, target, rel string) error {
	if x.seen[rel] {
		return nil
	}
	pfd, err := x.dir(dir, false)
	if errors.Is(err, unix.ENOENT) {
		return nil // nothing below to hide
	}
	if err != nil {
		return err
	}
	if err := x.clear(pfd, rel, target, false); err != nil {
		return fmt.Errorf("apply whiteout: %w", err)
	}
	return nil
}

// opaque applies `.wh..wh..opq`: dir hides everything below it from lower
// layers.
func (x *extractor) opaque(dir string) error {
	if x.opts.Whiteouts != WhiteoutsDelete {
		pfd, err := x.dir(dir, true)
		if err != nil {
			return err
		}
		if err := unix.Fsetxattr(pfd, opaqueXattr, []byte("y"), 0); err != nil {
			return fmt.Errorf("set %s: %w", opaqueXattr, err)
		}
		return nil
	}
	err := x.prune(dir)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// prune removes everything below dir that this layer did not write. The
// marker may come after some of the directory's entries, so those (and their
// own descendants) are kept, and their lower content is pruned too.
func (x *extractor) prune(dir string) error {
	fd, err := x.openDir(dir, false)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), dir)
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("read %q: %w", dir, err)
	}
	for _, name := range names {
		child := path.Join(dir, name)
		if !x.seen[child] {
			x.invalidate(child)
			if err := x.root.RemoveAll(child); err != nil {
				return fmt.Errorf("apply opaque marker: %w", err)
			}
			continue
		}
		if fi, err := x.root.Lstat(child); err == nil && fi.IsDir() {
			if err := x.prune(child); err != nil {
				return err
			}
		}
	}
	return nil
}
