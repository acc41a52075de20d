package layer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// ExtractLayer extracts l into dst, which appears only once complete: the
// layer is unpacked into a temp dir beside dst, flushed to disk and renamed
// into place, so a crash never leaves a half-extracted layer at dst. If dst
// already exists it is taken to be the finished extraction and left alone.
func ExtractLayer(ctx context.Context, l v1.Layer, dst string, opts ExtractOptions) error {
	if _, err := os.Lstat(dst); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("extract layer: %w", err)
	}
	digest, err := l.Digest()
	if err != nil {
		return fmt.Errorf("extract layer to %s: %w", dst, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-")
	if err != nil {
		return fmt.Errorf("extract layer %s: %w", digest, err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	// MkdirTemp makes 0700; a lower dir's root is 0755 unless the layer says
	// otherwise with a "./" entry.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("extract layer %s: %w", digest, err)
	}
	if err := extractInto(ctx, l, tmp, opts); err != nil {
		return fmt.Errorf("extract layer %s: %w", digest, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		if _, serr := os.Lstat(dst); serr == nil {
			return nil // a concurrent extraction of the same layer won
		}
		return fmt.Errorf("extract layer %s: %w", digest, err)
	}
	done = true
	syncDir(filepath.Dir(dst))
	return nil
}

// extractInto extracts l into dir and flushes the file system holding it.
func extractInto(ctx context.Context, l v1.Layer, dir string, opts ExtractOptions) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	err = Extract(ctx, rc, dir, opts)
	if err == nil {
		// Readers that verify a digest (remote and OCI layout layers) do so
		// at EOF, which the tar reader stops short of.
		_, err = io.Copy(io.Discard, rc)
	}
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// One syncfs is far cheaper than an fsync per file and makes the whole
	// tree durable before the rename publishes it.
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}
