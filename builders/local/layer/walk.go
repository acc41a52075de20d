package layer

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// OCI whiteout names (image-spec layer.md).
const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// capturer walks an upper dir and writes its tar entries.
type capturer struct {
	ctx   context.Context
	tw    *tar.Writer
	epoch time.Time
	warn  func(string)
	links map[fileID]string // first path of each inode with several links
	buf   []byte
}

// fileID identifies an inode, for hardlink detection.
type fileID struct{ dev, ino uint64 }

// entry is one directory entry with the lstat result the headers need.
type entry struct {
	abs, rel string
	st       unix.Stat_t
}

func newCapturer(ctx context.Context, tw *tar.Writer, opts CaptureOptions) *capturer {
	warn := opts.Warn
	if warn == nil {
		warn = func(string) {}
	}
	return &capturer{
		ctx: ctx, tw: tw, epoch: captureEpoch(opts.SourceDateEpoch), warn: warn,
		links: map[fileID]string{}, buf: make([]byte, 1<<20),
	}
}

// walkDir writes the entries below the directory abs (rel in the layer).
// Whiteouts go first, then the other children, each group in name order:
// the OCI spec asks for whiteouts before their siblings, so a streaming
// consumer never hides something it has just written.
func (c *capturer) walkDir(abs, rel string) error {
	names, err := readDirNames(abs)
	if err != nil {
		return err
	}
	var rest []entry
	for _, name := range names {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		e := entry{abs: filepath.Join(abs, name), rel: path.Join(rel, name)}
		if err := unix.Lstat(e.abs, &e.st); err != nil {
			return fmt.Errorf("lstat %s: %w", e.abs, err)
		}
		if isWhiteout(&e.st) {
			if err := c.writeWhiteout(e); err != nil {
				return err
			}
			continue
		}
		rest = append(rest, e)
	}
	for _, e := range rest {
		if err := c.writeEntry(e); err != nil {
			return err
		}
	}
	return nil
}

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("read dir %s: %w", dir, err)
	}
	slices.Sort(names)
	return names, nil
}

// isWhiteout reports an overlay whiteout: a character device 0/0.
func isWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// writeWhiteout emits the OCI form of an overlay whiteout. Mode, owner and
// time carry no meaning here; they are fixed so they cannot vary.
func (c *capturer) writeWhiteout(e entry) error {
	dir, name := path.Split(e.rel)
	return c.writeHeader(&tar.Header{
		Typeflag: tar.TypeReg,
		Name:     dir + whiteoutPrefix + name,
		Mode:     0o600,
		ModTime:  c.mtime(e.st.Mtim),
		Format:   tar.FormatPAX,
	})
}

func (c *capturer) writeEntry(e entry) error {
	hdr, opaque, err := c.header(e)
	if err != nil || hdr == nil {
		return err
	}
	if err := c.writeHeader(hdr); err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeReg:
		return c.copyFile(e, hdr.Size)
	case tar.TypeDir:
		if opaque {
			marker := &tar.Header{Typeflag: tar.TypeReg, Name: hdr.Name + opaqueMarker,
				Mode: 0o600, ModTime: hdr.ModTime, Format: tar.FormatPAX}
			if err := c.writeHeader(marker); err != nil {
				return err
			}
		}
		return c.walkDir(e.abs, e.rel)
	}
	return nil
}

func (c *capturer) writeHeader(hdr *tar.Header) error {
	if err := c.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write header %s: %w", hdr.Name, err)
	}
	return nil
}

// copyFile streams a regular file into the tar. The size must match the
// lstat: an upper dir that changes during capture is an error, not a layer.
func (c *capturer) copyFile(e entry, size int64) error {
	f, err := os.OpenFile(e.abs, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.CopyBuffer(c.tw, io.LimitReader(f, size), c.buf)
	if err != nil {
		return fmt.Errorf("copy %s: %w", e.abs, err)
	}
	if n != size {
		return fmt.Errorf("copy %s: file shrank from %d to %d bytes during capture", e.abs, size, n)
	}
	return nil
}

// mtime clamps a timestamp to the epoch, in whole seconds.
func (c *capturer) mtime(ts unix.Timespec) time.Time {
	t := time.Unix(ts.Sec, 0)
	if !c.epoch.IsZero() && t.After(c.epoch) {
		return c.epoch
	}
	return t
}
