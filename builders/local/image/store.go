package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
)

// Store is the local builder's image store: an OCI layout with every image
// and blob, the extracted layers, and the source records (see the package
// doc for the layout on disk). It is safe for concurrent use by goroutines
// and by processes sharing the directory.
type Store struct {
	dir    string
	layout layout.Path
}

// Open opens the store in dir, creating what is missing.
func Open(dir string) (*Store, error) {
	s := &Store{dir: dir, layout: layout.Path(filepath.Join(dir, "oci"))}
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{
		{s.blobDir(), 0o755},
		{s.layersDir(), 0o700},
		{s.sourcesDir(), 0o755},
		{s.tmpDir(), 0o700},
	} {
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			return nil, fmt.Errorf("open image store: %w", err)
		}
	}
	if _, err := os.Stat(filepath.Join(string(s.layout), "index.json")); errors.Is(err, fs.ErrNotExist) {
		if _, err := layout.Write(string(s.layout), empty.Index); err != nil {
			return nil, fmt.Errorf("open image store: create layout %s: %w", string(s.layout), err)
		}
	}
	return s, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Layout returns the OCI layout holding the store's images.
func (s *Store) Layout() layout.Path { return s.layout }

func (s *Store) blobDir() string    { return filepath.Join(s.dir, "oci", "blobs", "sha256") }
func (s *Store) layersDir() string  { return filepath.Join(s.dir, "layers") }
func (s *Store) sourcesDir() string { return filepath.Join(s.dir, "sources") }
func (s *Store) tmpDir() string     { return filepath.Join(s.dir, "tmp") }

func (s *Store) blobPath(h v1.Hash) string { return filepath.Join(s.blobDir(), h.Hex) }

// Put writes img (layers, config, manifest) into the store and lists its
// manifest in the layout's index once. Blobs already present with the right
// size are not read again, so putting a pulled image twice fetches nothing.
func (s *Store) Put(ctx context.Context, img v1.Image) (v1.Hash, error) {
	d, err := img.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("put image: %w", err)
	}
	if err := s.writeLayers(ctx, img); err != nil {
		return v1.Hash{}, fmt.Errorf("put image %s: %w", d, err)
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("put image %s: %w", d, err)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("put image %s: config: %w", d, err)
	}
	manifest, err := img.RawManifest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("put image %s: manifest: %w", d, err)
	}
	// The manifest goes last: its presence means the rest is there.
	if err := s.writeBlobBytes(cfgName, cfg); err != nil {
		return v1.Hash{}, fmt.Errorf("put image %s: %w", d, err)
	}
	if err := s.writeBlobBytes(d, manifest); err != nil {
		return v1.Hash{}, fmt.Errorf("put image %s: %w", d, err)
	}
	desc, err := partial.Descriptor(img)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("put image %s: %w", d, err)
	}
	if err := s.addToIndex(*desc); err != nil {
		return v1.Hash{}, fmt.Errorf("put image %s: %w", d, err)
	}
	return d, nil
}

// Image returns the stored image with manifest digest d. Its layers read
// the store's blob files; nothing is checked until they are read.
func (s *Store) Image(d v1.Hash) (v1.Image, error) {
	raw, err := s.readManifest(d)
	if err != nil {
		return nil, err
	}
	img, err := partial.CompressedToImage(&storedImage{s: s, raw: raw})
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", d, err)
	}
	return img, nil
}

// Has reports whether the image with manifest digest d is complete in the
// store: its manifest (digest checked), config and every layer blob (sizes
// checked). The cache calls it before trusting a hit.
func (s *Store) Has(d v1.Hash) bool {
	raw, err := s.readManifest(d)
	if err != nil {
		return false
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil || !s.hasBlob(m.Config.Digest, m.Config.Size) {
		return false
	}
	for _, l := range m.Layers {
		if !s.hasBlob(l.Digest, l.Size) {
			return false
		}
	}
	return true
}

// readManifest reads manifest d, refusing one whose bytes do not match d.
func (s *Store) readManifest(d v1.Hash) ([]byte, error) {
	if d.Algorithm != "sha256" {
		return nil, fmt.Errorf("image %s: unsupported digest algorithm", d)
	}
	raw, err := os.ReadFile(s.blobPath(d))
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", d, err)
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != d.Hex {
		return nil, fmt.Errorf("image %s: manifest blob %s is corrupt", d, s.blobPath(d))
	}
	return raw, nil
}

// hasBlob reports whether blob h is present with the given size.
func (s *Store) hasBlob(h v1.Hash, size int64) bool {
	if h.Algorithm != "sha256" {
		return false
	}
	fi, err := os.Stat(s.blobPath(h))
	return err == nil && fi.Mode().IsRegular() && fi.Size() == size
}

// addToIndex lists desc in index.json unless its digest is there already.
// The read-modify-write runs under a lock file and the new index replaces
// the old by rename, so concurrent Puts lose no entry.
func (s *Store) addToIndex(desc v1.Descriptor) error {
	unlock, err := lockFile(context.Background(), filepath.Join(string(s.layout), ".index.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	path := filepath.Join(string(s.layout), "index.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read index: %w", err)
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("read index %s: %w", path, err)
	}
	for _, m := range idx.Manifests {
		if m.Digest == desc.Digest {
			return nil
		}
	}
	idx.Manifests = append(idx.Manifests, desc)
	out, err := json.MarshalIndent(idx, "", "   ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, out, 0o644)
}
