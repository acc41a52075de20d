package layer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestExtractLayerIsAtomic checks that a refused layer leaves neither dst
// nor a temp dir behind, and that an existing dst is taken as done.
func TestExtractLayerIsAtomic(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	base := t.TempDir()
	tree := filepath.Join(base, "tree")
	writeFile(t, filepath.Join(tree, "ok"), "ok", 0o644)
	must(t, os.Symlink("/etc", filepath.Join(tree, "etc")))
	good, _ := capture(t, tree, filepath.Join(base, "good.tgz"), Gzip)

	// A layer whose tar writes through its own symlink: the blob is made by
	// hand since Capture cannot produce one.
	bad := &blobLayer{path: filepath.Join(base, "bad.tgz"), mediaType: good.(*blobLayer).mediaType}
	writeGzipTar(t, bad.path, symEnt("etc", "/etc"), reg("etc/passwd", "x", 0o644))

	lowers := filepath.Join(base, "lowers")
	must(t, os.Mkdir(lowers, 0o755))
	err := ExtractLayer(ctx, bad, filepath.Join(lowers, "bad"), ExtractOptions{})
	if !errors.Is(err, ErrUnsafeEntry) {
		t.Fatalf("ExtractLayer(bad) = %v, want ErrUnsafeEntry", err)
	}
	assertDirNames(t, lowers)

	dst := filepath.Join(lowers, "good")
	must(t, ExtractLayer(ctx, good, dst, ExtractOptions{}))
	assertDirNames(t, lowers, "good")
	assertDirNames(t, dst, "etc", "ok")
	if st := lstat(t, dst); st.Mode&0o777 != 0o755 {
		t.Errorf("extracted root mode %o, want 755", st.Mode&0o777)
	}
	// A second extraction finds dst and does nothing, even for another layer.
	must(t, ExtractLayer(ctx, bad, dst, ExtractOptions{}))
	assertDirNames(t, dst, "etc", "ok")
}

func writeGzipTar(t *testing.T, path string, entries ...tarEntry) {
	t.Helper()
	f, err := os.Create(path)
	must(t, err)
	zw, err := newCompressor(f, Gzip)
	must(t, err)
	_, err = mkTar(t, entries...).WriteTo(zw)
	must(t, err)
	must(t, zw.Close())
	must(t, f.Close())
}
