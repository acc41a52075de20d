package image

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/pipebuild/pipe/builders/local/layer"
	"golang.org/x/sys/unix"
)

// LayerDir returns the directory holding l extracted in overlay form (OCI
// whiteouts as 0/0 character devices, opaque dirs marked), extracting it
// first if needed. The directory is a read-only overlay lower dir: nothing
// may write to it. Concurrent callers for one layer are safe: each extracts
// into its own temp dir and the first rename wins.
//
// Device nodes are allowed: base layers (mmdebstrap's /dev, pulled images)
// have them, and a layer pipe captured has one only if a provisioner, root
// in the chroot anyway, made it.
func (s *Store) LayerDir(ctx context.Context, l v1.Layer) (string, error) {
	diffID, err := l.DiffID()
	if err != nil {
		return "", fmt.Errorf("layer dir: %w", err)
	}
	dst := s.layerPath(diffID)
	if err := layer.ExtractLayer(ctx, l, dst, layer.ExtractOptions{Whiteouts: layer.WhiteoutsOverlay, AllowDevices: true}); err != nil {
		return "", fmt.Errorf("layer dir %s: %w", dst, err)
	}
	return dst, nil
}

// AdoptLayerDir moves dir, a finished tree that is exactly the layer with
// the given diffID in overlay form (such as an unmounted overlay upper dir
// that was just captured), to that layer's place in the store, so the layer
// is never extracted. dir must be on the store's file system (TempDir gives
// such a dir). If the store already has the layer, dir is removed instead.
func (s *Store) AdoptLayerDir(diffID v1.Hash, dir string) error {
	dst := s.layerPath(diffID)
	err := unix.Renameat2(unix.AT_FDCWD, dir, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) {
		// A file system without RENAME_NOREPLACE: a plain rename still
		// refuses to replace a non-empty dir, and an empty one is the same
		// (empty) layer.
		err = os.Rename(dir, dst)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY):
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("adopt layer dir %s: remove duplicate: %w", dir, err)
		}
		return nil
	case errors.Is(err, unix.EXDEV):
		return fmt.Errorf("adopt layer dir %s: not on the file system of the store %s", dir, s.dir)
	}
	return fmt.Errorf("adopt layer dir %s: %w", dir, err)
}

// Lowers returns the extracted dirs of img's layers, top-most first: the
// order of overlay's lowerdir option. Missing ones are extracted.
func (s *Store) Lowers(ctx context.Context, img v1.Image) ([]string, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("lower dirs: %w", err)
	}
	dirs := make([]string, len(layers))
	for i, l := range layers {
		d, err := s.LayerDir(ctx, l)
		if err != nil {
			return nil, err
		}
		dirs[len(layers)-1-i] = d
	}
	return dirs, nil
}

// Capture is layer.Capture with the blob written straight into the store's
// layout (opts.Path is ignored), so putting an image that uses the returned
// layer copies nothing.
func (s *Store) Capture(ctx context.Context, upperDir string, opts layer.CaptureOptions) (v1.Layer, error) {
	opts.Path = filepath.Join(s.blobDir(), ".capture-"+randomHex())
	l, err := layer.Capture(ctx, upperDir, opts)
	if err != nil {
		return nil, err
	}
	defer os.Remove(opts.Path)
	d, err := l.Digest()
	if err != nil {
		return nil, err
	}
	diffID, err := l.DiffID()
	if err != nil {
		return nil, err
	}
	size, err := l.Size()
	if err != nil {
		return nil, err
	}
	mt, err := l.MediaType()
	if err != nil {
		return nil, err
	}
	if err := os.Rename(opts.Path, s.blobPath(d)); err != nil {
		return nil, fmt.Errorf("capture %s: %w", upperDir, err)
	}
	bl := &blobLayer{path: s.blobPath(d), digest: d, diffID: diffID, size: size, mediaType: mt}
	return partial.CompressedToLayer(capturedLayer{bl})
}

// TempDir makes a new 0700 directory on the store's file system, for trees
// that AdoptLayerDir will move into place. The caller removes it if it is
// not adopted.
func (s *Store) TempDir(pattern string) (string, error) {
	return os.MkdirTemp(s.tmpDir(), pattern)
}

func (s *Store) layerPath(diffID v1.Hash) string {
	return filepath.Join(s.layersDir(), diffID.Hex)
}

func randomHex() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
