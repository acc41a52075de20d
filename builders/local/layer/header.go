package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// paxXattr is the PAX record prefix for extended attributes (star, GNU tar,
// Docker and archive/tar all use it).
const paxXattr = "SCHILY.xattr."

// header builds the tar header of a non-whiteout entry. It returns a nil
// header for entries a layer cannot hold (sockets), and reports whether a
// directory is opaque.
func (c *capturer) header(e entry) (*tar.Header, bool, error) {
	st := &e.st
	hdr := &tar.Header{
		Name:    e.rel,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: c.mtime(st.Mtim),
		Format:  tar.FormatPAX,
	}
	if st.Mode&unix.S_IFMT == unix.S_IFSOCK {
		c.warn(fmt.Sprintf("skipping socket %s: a layer cannot hold sockets", e.rel))
		return nil, false, nil
	}
	xattrs, opaque, err := readXattrs(e.abs)
	if err != nil {
		return nil, false, err
	}
	for k, v := range xattrs {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords[paxXattr+k] = v
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		hdr.Typeflag, hdr.Name = tar.TypeDir, e.rel+"/"
		return hdr, opaque, nil
	}
	if st.Nlink > 1 {
		id := fileID{dev: st.Dev, ino: st.Ino}
		if first, ok := c.links[id]; ok {
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
			return hdr, false, nil
		}
		c.links[id] = e.rel
	}
	return hdr, false, fillType(hdr, e)
}

// fillType sets the type-specific fields of a non-directory header.
func fillType(hdr *tar.Header, e entry) error {
	st := &e.st
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
	case unix.S_IFLNK:
		target, err := os.Readlink(e.abs)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return fmt.Errorf("%s: unsupported file type %#o", e.abs, st.Mode&unix.S_IFMT)
	}
	return nil
}

// readXattrs returns the xattrs of path that belong in a layer, and whether
// overlay marked it opaque. Overlay's own xattrs (trusted.overlay.*, or
// user.overlay.* under the userxattr mount option) describe the upper dir,
// not the image, so they never reach the layer; the two whose meaning a tar
// cannot carry are refused.
func readXattrs(path string) (map[string]string, bool, error) {
	names, err := listXattrs(path)
	if err != nil {
		return nil, false, err
	}
	var out map[string]string
	opaque := false
	for _, name := range names {
		val, err := getXattr(path, name)
		if err != nil {
			return nil, false, err
		}
		if ovl, ok := overlayXattr(name); ok {
			switch ovl {
			case "opaque":
				opaque = opaque || val == "y"
			case "redirect", "metacopy":
				return nil, false, fmt.Errorf("%s: overlay %s xattr: mount the overlay with redirect_dir=off,metacopy=off", path, ovl)
			}
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[name] = val
	}
	return out, opaque, nil
}

// overlayXattr returns the overlay-private suffix of an xattr name.
func overlayXattr(name string) (string, bool) {
	if s, ok := strings.CutPrefix(name, "trusted.overlay."); ok {
		return s, true
	}
	return strings.CutPrefix(name, "user.overlay.")
}

func listXattrs(path string) ([]string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Llistxattr(path, buf)
		switch {
		case errors.Is(err, unix.ERANGE):
			buf = make([]byte, 2*len(buf))
			continue
		case errors.Is(err, unix.ENOTSUP):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("list xattrs of %s: %w", path, err)
		}
		var names []string
		for _, s := range strings.Split(string(buf[:n]), "\x00") {
			if s != "" {
				names = append(names, s)
			}
		}
		return names, nil
	}
}

func getXattr(path, name string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(path, name, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, 2*len(buf))
			continue
		}
		if err != nil {
			return "", fmt.Errorf("get xattr %s of %s: %w", name, path, err)
		}
		return string(buf[:n]), nil
	}
}
