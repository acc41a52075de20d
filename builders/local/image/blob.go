package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// writeLayers copies the layers of img that the store lacks, concurrently.
// A layer already present is never opened: for a remote layer, opening is
// the download.
func (s *Store) writeLayers(ctx context.Context, img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	errs := make([]error, len(layers))
	var wg sync.WaitGroup
	for i, l := range layers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.writeLayer(ctx, l)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *Store) writeLayer(ctx context.Context, l v1.Layer) error {
	d, err := l.Digest()
	if err != nil {
		return err
	}
	size, err := l.Size()
	if err != nil {
		return fmt.Errorf("layer %s: %w", d, err)
	}
	if s.hasBlob(d, size) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("layer %s: %w", d, err)
	}
	defer rc.Close()
	if err := s.writeBlob(d, size, rc); err != nil {
		return fmt.Errorf("layer %s: %w", d, err)
	}
	return nil
}

func (s *Store) writeBlobBytes(d v1.Hash, b []byte) error {
	if s.hasBlob(d, int64(len(b))) {
		return nil
	}
	return s.writeBlob(d, int64(len(b)), bytes.NewReader(b))
}

// writeBlob copies r to blob d through a temp file, checking that the bytes
// match d and size before the rename publishes them.
func (s *Store) writeBlob(d v1.Hash, size int64, r io.Reader) error {
	if d.Algorithm != "sha256" {
		return fmt.Errorf("blob %s: unsupported digest algorithm", d)
	}
	tmp, err := os.CreateTemp(s.blobDir(), ".tmp-"+d.Hex+"-*")
	if err != nil {
		return fmt.Errorf("write blob %s: %w", d, err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return fmt.Errorf("write blob %s: %w", d, err)
	case n != size:
		return fmt.Errorf("write blob %s: got %d bytes, want %d", d, n, size)
	case hex.EncodeToString(h.Sum(nil)) != d.Hex:
		return fmt.Errorf("write blob %s: content does not match its digest", d)
	}
	if err := os.Rename(tmp.Name(), s.blobPath(d)); err != nil {
		return fmt.Errorf("write blob %s: %w", d, err)
	}
	return nil
}

// writeFileAtomic writes data to path through a temp file beside it, so a
// reader sees the old content or the new, never a part.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	return writeAtomic(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeAtomic creates path with the bytes fill writes, through a temp file
// beside it that is renamed into place only if fill succeeds.
func writeAtomic(path string, perm os.FileMode, fill func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = fill(tmp)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// storedImage is the partial.CompressedImageCore of a stored manifest.
type storedImage struct {
	s   *Store
	raw []byte
}

func (i *storedImage) RawManifest() ([]byte, error) { return i.raw, nil }

func (i *storedImage) MediaType() (types.MediaType, error) {
	m, err := v1.ParseManifest(bytes.NewReader(i.raw))
	if err != nil {
		return "", err
	}
	if m.MediaType == "" {
		return types.OCIManifestSchema1, nil
	}
	return m.MediaType, nil
}

func (i *storedImage) RawConfigFile() ([]byte, error) {
	m, err := v1.ParseManifest(bytes.NewReader(i.raw))
	if err != nil {
		return nil, err
	}
	return os.ReadFile(i.s.blobPath(m.Config.Digest))
}

func (i *storedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	m, err := v1.ParseManifest(bytes.NewReader(i.raw))
	if err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		if l.Digest == h {
			return &blobLayer{path: i.s.blobPath(h), digest: h, size: l.Size, mediaType: l.MediaType}, nil
		}
	}
	return nil, fmt.Errorf("layer %s is not in the manifest", h)
}

// blobLayer is a compressed layer read from a blob file of the store. A
// zero diffID is computed from the config by go-containerregistry.
type blobLayer struct {
	path      string
	digest    v1.Hash
	diffID    v1.Hash
	size      int64
	mediaType types.MediaType
}

func (l *blobLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *blobLayer) Size() (int64, error)                { return l.size, nil }
func (l *blobLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }
func (l *blobLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }

// capturedLayer adds the diffID that Capture already computed.
type capturedLayer struct{ *blobLayer }

func (l capturedLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }
