package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// create makes the entry name in the directory pfd (dir in dst) and applies
// its metadata. A later entry for the same path replaces an earlier one, as
// in any tar; a directory entry over an existing directory only updates it.
func (x *extractor) create(pfd int, dir, name string, hdr *tar.Header, r io.Reader) error {
	rel := path.Join(dir, name)
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.mkdir(pfd, rel, name, hdr)
	case tar.TypeReg, tar.TypeGNUSparse:
		return x.writeFile(pfd, rel, name, hdr, r)
	case tar.TypeSymlink:
		if err := checkSymlink(rel, hdr.Linkname); err != nil {
			return err
		}
		if err := x.clear(pfd, rel, name, false); err != nil {
			return err
		}
		if err := unix.Symlinkat(hdr.Linkname, pfd, name); err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
	case tar.TypeLink:
		// The inode already has its metadata from the entry that made it.
		return x.link(pfd, rel, name, hdr.Linkname)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if err := x.mknod(pfd, rel, name, hdr); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
	}
	return x.setMeta(pfd, name, -1, hdr)
}

func (x *extractor) mkdir(pfd int, rel, name string, hdr *tar.Header) error {
	if err := x.clear(pfd, rel, name, true); err != nil {
		return err
	}
	fd, err := openDirAt(pfd, name, true)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := x.setMeta(pfd, name, fd, hdr); err != nil {
		return err
	}
	x.dirs = append(x.dirs, dirTime{rel: rel, mtime: hdr.ModTime})
	return nil
}

func (x *extractor) writeFile(pfd int, rel, name string, hdr *tar.Header, r io.Reader) error {
	if err := x.clear(pfd, rel, name, false); err != nil {
		return err
	}
	fd, err := unix.Openat(pfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	// The struct hides f's ReadFrom, which would not use our large buffer.
	if _, err := io.CopyBuffer(struct{ io.Writer }{f}, r, x.buf); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := x.setMeta(pfd, name, fd, hdr); err != nil {
		return err
	}
	return f.Close()
}

// link makes a hardlink to an entry already extracted into dst.
func (x *extractor) link(pfd int, rel, name, linkname string) error {
	target, err := cleanName(linkname)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", linkname, err)
	}
	tdir, tname := path.Split(target)
	tfd, err := x.openDir(strings.TrimSuffix(tdir, "/"), false)
	if err == nil {
		defer unix.Close(tfd)
		var st unix.Stat_t
		err = unix.Fstatat(tfd, tname, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return fmt.Errorf("%w: hardlink to directory %q", ErrUnsafeEntry, linkname)
		}
	}
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("%w: hardlink target %q is not extracted yet", ErrUnsafeEntry, linkname)
	}
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", linkname, err)
	}
	if err := x.clear(pfd, rel, name, false); err != nil {
		return err
	}
	if err := unix.Linkat(tfd, tname, pfd, name, 0); err != nil {
		return fmt.Errorf("hardlink to %q: %w", linkname, err)
	}
	return nil
}

func (x *extractor) mknod(pfd int, rel, name string, hdr *tar.Header) error {
	mode := uint32(unix.S_IFIFO)
	switch hdr.Typeflag {
	case tar.TypeChar, tar.TypeBlock:
		if !x.opts.AllowDevices {
			return fmt.Errorf("%w: device node (only allowed with AllowDevices, for rootfs tarballs)", ErrUnsafeEntry)
		}
		mode = unix.S_IFCHR
		if hdr.Typeflag == tar.TypeBlock {
			mode = unix.S_IFBLK
		}
	}
	if err := x.clear(pfd, rel, name, false); err != nil {
		return err
	}
	dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
	if err := unix.Mknodat(pfd, name, mode|0o600, int(dev)); err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	return nil
}

// clear removes whatever is at name so a new entry can take its place,
// except a directory when keepDir is set.
func (x *extractor) clear(pfd int, rel, name string, keepDir bool) error {
	var st unix.Stat_t
	err := unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return unix.Unlinkat(pfd, name, 0)
	}
	if keepDir {
		return nil
	}
	x.invalidate(rel)
	return x.root.RemoveAll(rel)
}
