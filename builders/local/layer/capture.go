package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Compression algorithms accepted by CaptureOptions.Compression.
const (
	Gzip = "gzip"
	Zstd = "zstd"
)

// CaptureOptions controls how Capture turns an upper dir into a layer.
type CaptureOptions struct {
	// Path is where the compressed blob is written. The file appears there
	// only once it is complete (temp file beside it, fsync, rename), so a
	// crashed capture never leaves a truncated blob at Path.
	Path string
	// SourceDateEpoch clamps every mtime to min(mtime, SourceDateEpoch), so
	// a rebuilt tree with fresh timestamps gives the same digest. The zero
	// value keeps mtimes (truncated to whole seconds).
	SourceDateEpoch time.Time
	// Compression is Gzip (the default, parallel pgzip) or Zstd (all cores).
	Compression string
	// Warn receives one line per entry that cannot be represented in a
	// layer and is skipped (sockets). Nil discards the warnings.
	Warn func(string)
}

// Capture writes the tree under upperDir as one OCI layer to opts.Path and
// returns the layer, backed by that file, with its digest and diffID already
// computed from the single pass that wrote it.
//
// upperDir is expected to be the upper dir of an unmounted overlay whose
// mount used redirect_dir=off and metacopy=off: a redirect or metacopy xattr
// cannot be expressed in a tar and makes Capture fail rather than produce a
// layer that silently differs from the merged view.
func Capture(ctx context.Context, upperDir string, opts CaptureOptions) (v1.Layer, error) {
	if opts.Path == "" {
		return nil, errors.New("capture: no blob path given")
	}
	mt, err := mediaType(opts.Compression)
	if err != nil {
		return nil, fmt.Errorf("capture %s: %w", upperDir, err)
	}
	if fi, err := os.Stat(upperDir); err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("capture %s: not a directory", upperDir)
	}
	bw, err := newBlobWriter(opts.Path, opts.Compression)
	if err != nil {
		return nil, fmt.Errorf("capture %s: %w", upperDir, err)
	}
	defer bw.abort()

	tw := tar.NewWriter(bw)
	c := newCapturer(ctx, tw, opts)
	if err := c.walkDir(upperDir, ""); err != nil {
		return nil, fmt.Errorf("capture %s: %w", upperDir, err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("capture %s: finish tar: %w", upperDir, err)
	}
	l, err := bw.commit(mt)
	if err != nil {
		return nil, fmt.Errorf("capture %s: %w", upperDir, err)
	}
	return l, nil
}

// captureEpoch turns SourceDateEpoch into the clamp used for headers: whole
// seconds, since sub-second mtimes would add PAX records and noise.
func captureEpoch(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.Unix(t.Unix(), 0)
}
