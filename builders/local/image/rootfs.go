package image

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"github.com/pipebuild/pipe/builders/local/layer"
)

// Rootfs is a base made from a root filesystem tarball (plain, gzip or
// zstd, told apart by their magic bytes). Its sha256, not its path, enters
// the key.
type Rootfs struct {
	// Path is the tarball.
	Path string `yaml:"path"`
}

// rootfsKeyVersion changes when what Rootfs produces changes on purpose.
const rootfsKeyVersion = "1"

// Validate implements Source.
func (src Rootfs) Validate() error {
	if src.Path == "" {
		return errors.New("rootfs: no tarball path given")
	}
	return nil
}

// Resolve implements Source.
func (src Rootfs) Resolve(ctx context.Context, s *Store, opts ResolveOptions) (*Base, error) {
	sum, err := fileSHA256(src.Path)
	if err != nil {
		return nil, fmt.Errorf("rootfs %s: %w", src.Path, err)
	}
	key := []KeyLine{
		{"source", "rootfs v" + rootfsKeyVersion},
		{"sha256", sum},
		{"arch", runtime.GOARCH},
		epochLine(opts.SourceDateEpoch),
	}
	base, err := s.cachedSource(ctx, key, func() (v1.Image, error) {
		return s.tarballImage(ctx, src.Path, runtime.GOARCH, opts, "pipe: rootfs sha256:"+sum)
	})
	if err != nil {
		return nil, fmt.Errorf("rootfs %s: %w", src.Path, err)
	}
	return base, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// tarballImage turns the rootfs tarball at path into a one-layer image.
func (s *Store) tarballImage(ctx context.Context, path, arch string, opts ResolveOptions, createdBy string) (v1.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := decompress(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer r.Close()
	return s.tarImage(ctx, r, arch, opts, createdBy)
}

// tarImage turns an uncompressed rootfs tar into a one-layer image. The tar
// is extracted with whiteouts applied and device nodes kept, then captured
// as a layer with mtimes clamped to the epoch; the extracted tree becomes
// the layer's lower dir.
func (s *Store) tarImage(ctx context.Context, r io.Reader, arch string, opts ResolveOptions, createdBy string) (v1.Image, error) {
	dir, err := s.TempDir("rootfs-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir) // a no-op once adopted
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	warn := func(msg string) {
		if opts.Log != nil {
			fmt.Fprintln(opts.Log, "warning:", msg)
		}
	}
	xopts := layer.ExtractOptions{Whiteouts: layer.WhiteoutsDelete, AllowDevices: true, Warn: warn}
	if err := layer.Extract(ctx, r, dir, xopts); err != nil {
		return nil, err
	}
	l, err := s.Capture(ctx, dir, layer.CaptureOptions{SourceDateEpoch: opts.SourceDateEpoch, Warn: warn})
	if err != nil {
		return nil, err
	}
	diffID, err := l.DiffID()
	if err != nil {
		return nil, err
	}
	if err := s.AdoptLayerDir(diffID, dir); err != nil {
		return nil, err
	}
	return oneLayerImage(l, arch, opts.SourceDateEpoch, createdBy)
}

func oneLayerImage(l v1.Layer, arch string, created time.Time, createdBy string) (v1.Image, error) {
	img, err := emptyImage(arch, created)
	if err != nil {
		return nil, err
	}
	h := v1.History{CreatedBy: createdBy}
	if !created.IsZero() {
		h.Created = v1.Time{Time: created.UTC()}
	}
	return mutate.Append(img, mutate.Addendum{Layer: l, History: h})
}

// decompress returns the tar inside r, by magic bytes: gzip, zstd or none.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		return pgzip.NewReader(br)
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return nil, errors.New("xz-compressed tarballs are not supported: use a plain, gzip or zstd tarball")
	case bytes.HasPrefix(magic, []byte("BZh")):
		return nil, errors.New("bzip2-compressed tarballs are not supported: use a plain, gzip or zstd tarball")
	}
	return io.NopCloser(br), nil
}
