package layer

import (
	"archive/tar"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// setMeta applies an entry's owner, mode, xattrs and times to name in pfd.
// fd is an open descriptor of the object itself, or -1 for objects that
// cannot be opened (symlinks, devices, fifos).
//
// The order matters: chown clears setuid bits and security.capability, so
// mode and xattrs come after it. Directory times wait for finish.
func (x *extractor) setMeta(pfd int, name string, fd int, hdr *tar.Header) error {
	if err := unix.Fchownat(pfd, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	mode := uint32(hdr.Mode & 0o7777)
	var err error
	switch {
	case hdr.Typeflag == tar.TypeSymlink:
		// Linux has no symlink modes.
	case fd >= 0:
		err = unix.Fchmod(fd, mode)
	default:
		// Safe to follow: name was just created by us as a device or fifo.
		err = unix.Fchmodat(pfd, name, mode, 0)
	}
	if err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	if err := setXattrs(pfd, name, fd, hdr); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeDir {
		return nil
	}
	ts := unix.NsecToTimespec(hdr.ModTime.UnixNano())
	if err := unix.UtimesNanoAt(pfd, name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set mtime: %w", err)
	}
	return nil
}

// setXattrs sets the SCHILY.xattr records of hdr, in name order.
func setXattrs(pfd int, name string, fd int, hdr *tar.Header) error {
	var keys []string
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, paxXattr) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		attr, val := strings.TrimPrefix(k, paxXattr), []byte(hdr.PAXRecords[k])
		var err error
		if fd >= 0 {
			err = unix.Fsetxattr(fd, attr, val, 0)
		} else {
			// The l-variant on a path through the parent's descriptor sets the
			// attribute on the entry itself, never on a symlink's target.
			err = unix.Lsetxattr(procPath(pfd, name), attr, val, 0)
		}
		if err != nil {
			return fmt.Errorf("set xattr %s: %w", attr, err)
		}
	}
	return nil
}

func procPath(fd int, name string) string {
	return "/proc/self/fd/" + strconv.Itoa(fd) + "/" + name
}

// setRootMeta applies the "./" entry to dst itself.
func (x *extractor) setRootMeta(hdr *tar.Header) error {
	if err := unix.Fchown(x.rootFD, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if err := unix.Fchmod(x.rootFD, uint32(hdr.Mode&0o7777)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	if err := setXattrs(-1, "", x.rootFD, hdr); err != nil {
		return err
	}
	x.dirs = append(x.dirs, dirTime{rel: "", mtime: hdr.ModTime})
	return nil
}
