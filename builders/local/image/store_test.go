package image

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestRootfsSourceLowers(t *testing.T) {
	s := openStore(t)
	base := busyboxBase(t, s)
	lowers, err := s.Lowers(context.Background(), base.Image)
	if err != nil {
		t.Fatal(err)
	}
	if len(lowers) != 1 {
		t.Fatalf("Lowers = %q, want one dir", lowers)
	}
	dir := lowers[0]
	if fi, err := os.Stat(filepath.Join(dir, "bin/busybox")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("bin/busybox: %v, %v", fi, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dir, "dev/null"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("dev/null: mode %#o rdev %d, %v; want char device 1:3", st.Mode, st.Rdev, err)
	}
	for _, gone := range []string{"etc/gone", "etc/.wh.gone"} {
		if _, err := os.Lstat(filepath.Join(dir, gone)); err == nil {
			t.Errorf("%s exists; the rootfs whiteout must not survive", gone)
		}
	}
	cfg, err := base.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture == "" {
		t.Errorf("config os/arch = %q/%q", cfg.OS, cfg.Architecture)
	}
	if !s.Has(base.Digest) {
		t.Error("Has(base) = false after Resolve")
	}
}

func TestRootfsSourceDeterministic(t *testing.T) {
	data := busyboxTar(t)
	dir := t.TempDir()
	var digests []string
	for _, c := range []string{"", "gzip", "zstd", ""} {
		path := writeTarball(t, dir, "rootfs-"+c+".tar", c, data)
		s := openStore(t) // a fresh store each time: no source cache
		base, err := Rootfs{Path: path}.Resolve(context.Background(), s, ResolveOptions{SourceDateEpoch: testEpoch})
		if err != nil {
			t.Fatalf("%s tarball: %v", c, err)
		}
		layers, err := base.Image.Layers()
		if err != nil || len(layers) != 1 {
			t.Fatalf("layers %v, %v", layers, err)
		}
		d, _ := layers[0].Digest()
		digests = append(digests, d.String())
	}
	for i, d := range digests[1:] {
		if d != digests[0] {
			t.Errorf("layer digest %d = %s, want %s", i+1, d, digests[0])
		}
	}
}

func TestRootfsSourceCache(t *testing.T) {
	s := openStore(t)
	path := writeTarball(t, t.TempDir(), "rootfs.tar", "", busyboxTar(t))
	opts := ResolveOptions{SourceDateEpoch: testEpoch}
	first, err := Rootfs{Path: path}.Resolve(context.Background(), s, opts)
	if err != nil {
		t.Fatal(err)
	}
	// A hit must not read the layer again: make re-extraction impossible.
	if err := os.Chmod(s.tmpDir(), 0); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(s.tmpDir(), 0o700)
	second, err := Rootfs{Path: path}.Resolve(context.Background(), s, opts)
	if err != nil {
		t.Fatal(err)
	}
	if first.Digest != second.Digest {
		t.Errorf("second resolve gave %s, want %s", second.Digest, first.Digest)
	}
	if diff := cmp.Diff(first.Key, second.Key); diff != "" {
		t.Errorf("key lines differ (-first +second):\n%s", diff)
	}
	other := ResolveOptions{SourceDateEpoch: testEpoch.Add(time.Second)}
	if k := keySum(first.Key); k == keySum(append(first.Key[:3:3], epochLine(other.SourceDateEpoch))) {
		t.Error("the epoch does not change the key")
	}
}

func TestHasDetectsMissingBlob(t *testing.T) {
	s := openStore(t)
	base := busyboxBase(t, s)
	layers, _ := base.Image.Layers()
	d, _ := layers[0].Digest()
	if err := os.Truncate(s.blobPath(d), 10); err != nil {
		t.Fatal(err)
	}
	if s.Has(base.Digest) {
		t.Error("Has = true with a truncated layer blob")
	}
	if err := os.Remove(s.blobPath(base.Digest)); err != nil {
		t.Fatal(err)
	}
	if s.Has(base.Digest) {
		t.Error("Has = true without the manifest")
	}
	if _, err := s.Image(base.Digest); err == nil {
		t.Error("Image succeeded without the manifest")
	}
}

func TestPutIndexOnce(t *testing.T) {
	s := openStore(t)
	base := busyboxBase(t, s)
	for range 2 {
		if _, err := s.Put(context.Background(), base.Image); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := s.Layout().ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || m.Manifests[0].Digest != base.Digest {
		t.Errorf("index lists %v, want only %s", m.Manifests, base.Digest)
	}
}

// TestLayerDirConcurrent extracts one layer from many goroutines into a
// store that has the blobs but no extracted dir.
func TestLayerDirConcurrent(t *testing.T) {
	base := busyboxBase(t, openStore(t))
	s := openStore(t)
	d, err := s.Put(context.Background(), base.Image)
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Image(d)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	dirs := make([][]string, 8)
	errs := make([]error, 8)
	for i := range dirs {
		wg.Go(func() { dirs[i], errs[i] = s.Lowers(context.Background(), img) })
	}
	wg.Wait()
	for i := range dirs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if diff := cmp.Diff(dirs[0], dirs[i]); diff != "" {
			t.Errorf("Lowers differ:\n%s", diff)
		}
	}
	if _, err := os.Stat(filepath.Join(dirs[0][0], "bin/busybox")); err != nil {
		t.Error(err)
	}
	entries, _ := os.ReadDir(s.layersDir())
	if len(entries) != 1 {
		t.Errorf("layers dir holds %d entries, want 1 (temp dirs left?)", len(entries))
	}
}

func TestAdoptLayerDirDuplicate(t *testing.T) {
	s := openStore(t)
	base := busyboxBase(t, s)
	layers, _ := base.Image.Layers()
	diffID, _ := layers[0].DiffID()
	dup, err := s.TempDir("dup-")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dup, "x"), nil, 0o644)
	if err := s.AdoptLayerDir(diffID, dup); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dup); !os.IsNotExist(err) {
		t.Errorf("duplicate dir still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.layerPath(diffID), "x")); err == nil {
		t.Error("the duplicate replaced the adopted layer dir")
	}
}
