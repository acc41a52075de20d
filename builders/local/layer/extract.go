package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Whiteout modes accepted by ExtractOptions.Whiteouts.
const (
	// WhiteoutsOverlay turns whiteouts into overlay whiteouts (0/0 character
	// devices) and opaque markers into trusted.overlay.opaque=y, for a dir
	// that will be an overlay lower dir. It needs CAP_MKNOD and
	// CAP_SYS_ADMIN (for trusted.* xattrs).
	WhiteoutsOverlay = "overlay"
	// WhiteoutsDelete applies whiteouts by deleting what they hide in dst,
	// for flattening layers into one rootfs.
	WhiteoutsDelete = "delete"
)

// ErrUnsafeEntry is wrapped by every refusal of a tar entry that would write
// outside dst, through a symlink, or create something not allowed.
var ErrUnsafeEntry = errors.New("unsafe tar entry")

// ExtractOptions controls Extract.
type ExtractOptions struct {
	// Whiteouts is WhiteoutsOverlay (the default) or WhiteoutsDelete.
	Whiteouts string
	// AllowDevices permits character and block device entries, as found in
	// full rootfs tarballs (/dev/null in a debootstrap tar). Layers captured
	// by pipe never need it.
	AllowDevices bool
	// Warn receives one line per entry that is skipped. Nil discards them.
	Warn func(string)
}

// Extract unpacks the uncompressed tar r into the existing directory dst,
// keeping owners, modes (setuid included), xattrs and mtimes. It refuses,
// with an error naming the entry and wrapping ErrUnsafeEntry, any entry that
// would land outside dst or go through a symlink, relative symlinks that
// climb out of dst, hardlinks to anything but an already extracted entry,
// device nodes unless opts.AllowDevices, and overlay xattrs.
//
// On error dst holds a partial tree; ExtractLayer is the atomic form.
func Extract(ctx context.Context, r io.Reader, dst string, opts ExtractOptions) error {
	if opts.Whiteouts != "" && opts.Whiteouts != WhiteoutsOverlay && opts.Whiteouts != WhiteoutsDelete {
		return fmt.Errorf("extract %s: unknown whiteout mode %q", dst, opts.Whiteouts)
	}
	x, err := newExtractor(dst, opts)
	if err != nil {
		return fmt.Errorf("extract %s: %w", dst, err)
	}
	defer x.close()
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("extract %s: %w", dst, err)
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("extract %s: read tar: %w", dst, err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return fmt.Errorf("extract %s: entry %q: %w", dst, hdr.Name, err)
		}
	}
	if err := x.finish(); err != nil {
		return fmt.Errorf("extract %s: %w", dst, err)
	}
	return nil
}

// entry extracts one tar entry.
func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if err := checkXattrs(hdr); err != nil {
		return err
	}
	if rel == "" {
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("%w: the root must be a directory", ErrUnsafeEntry)
		}
		return x.setRootMeta(hdr)
	}
	dir, name := path.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	if strings.HasPrefix(name, whiteoutPrefix) {
		return x.whiteout(dir, name)
	}
	pfd, err := x.dir(dir, true)
	if err != nil {
		return err
	}
	x.markSeen(rel)
	return x.create(pfd, dir, name, hdr, r)
}

// cleanName turns an entry name into a clean path relative to dst ("" for
// dst itself). Absolute names and ".." components are refused outright,
// even where they would stay inside dst: no honest layer has them.
func cleanName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty name", ErrUnsafeEntry)
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w: absolute path", ErrUnsafeEntry)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: %q path component", ErrUnsafeEntry, "..")
		}
	}
	rel := path.Clean(name)
	if rel == "." {
		return "", nil
	}
	return rel, nil
}

// checkXattrs refuses overlay xattrs: in a lower dir they would redirect,
// hide or fake lower content behind the builder's back.
func checkXattrs(hdr *tar.Header) error {
	for k := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, paxXattr); ok {
			if _, ovl := overlayXattr(name); ovl {
				return fmt.Errorf("%w: overlay xattr %s", ErrUnsafeEntry, name)
			}
		}
	}
	return nil
}

// checkSymlink refuses relative targets that climb above dst from the link's
// directory. Absolute targets are kept: they name a path inside the image
// when it runs, and extraction never follows a symlink.
func checkSymlink(rel, target string) error {
	if target == "" {
		return fmt.Errorf("%w: empty symlink target", ErrUnsafeEntry)
	}
	if path.IsAbs(target) {
		return nil
	}
	resolved := path.Join(path.Dir(rel), target)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return fmt.Errorf("%w: symlink target %q escapes the destination", ErrUnsafeEntry, target)
	}
	return nil
}
