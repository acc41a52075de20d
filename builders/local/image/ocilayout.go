package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
)

// refNameAnnotation is how an OCI layout names (tags) the images it lists.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// writeOCIDir writes img into the OCI layout at dir under ref name tag,
// replacing an image listed under that name. The replaced image's blobs
// that nothing else refers to are removed, so rewriting an output does not
// pile up old images; other blobs in the dir are never touched.
func writeOCIDir(img v1.Image, dir, tag string) error {
	p, err := openOrCreateLayout(dir)
	if err != nil {
		return err
	}
	matcher := match.Annotation(refNameAnnotation, tag)
	old := replacedBlobs(p, matcher)
	if err := p.ReplaceImage(img, matcher, layout.WithAnnotations(map[string]string{refNameAnnotation: tag})); err != nil {
		return fmt.Errorf("write layout %s: %w", dir, err)
	}
	// Best effort: a leftover blob wastes space but breaks nothing.
	if unused, err := p.GarbageCollect(); err == nil {
		for _, h := range unused {
			if old[h] {
				p.RemoveBlob(h)
			}
		}
	}
	return nil
}

// replacedBlobs returns the blobs of the images in p that matcher selects.
func replacedBlobs(p layout.Path, matcher match.Matcher) map[v1.Hash]bool {
	blobs := map[v1.Hash]bool{}
	idx, err := p.ImageIndex()
	if err != nil {
		return blobs
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return blobs
	}
	for _, desc := range m.Manifests {
		if !matcher(desc) {
			continue
		}
		blobs[desc.Digest] = true
		if img, err := idx.Image(desc.Digest); err == nil {
			if mf, err := img.Manifest(); err == nil {
				blobs[mf.Config.Digest] = true
				for _, l := range mf.Layers {
					blobs[l.Digest] = true
				}
			}
		}
	}
	return blobs
}

// openOrCreateLayout opens the OCI layout at dir, creating it if dir is
// missing or empty. A non-empty dir that is not a layout is refused rather
// than written into.
func openOrCreateLayout(dir string) (layout.Path, error) {
	if p, err := layout.FromPath(dir); err == nil {
		return p, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if len(entries) > 0 {
		return "", fmt.Errorf("%s is not empty and not an OCI layout (no index.json)", dir)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return "", fmt.Errorf("create layout %s: %w", dir, err)
	}
	return p, nil
}

// writeOCIArchive writes img as an OCI layout in a tar file. The layout is
// built in a temp dir beside path, then archived.
func writeOCIArchive(img v1.Image, path, tag string) error {
	tmp, err := os.MkdirTemp(filepath.Dir(path), "."+filepath.Base(path)+".layout-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := writeOCIDir(img, tmp, tag); err != nil {
		return err
	}
	return writeAtomic(path, 0o644, func(w io.Writer) error {
		return tarDir(w, tmp)
	})
}

// tarDir writes the regular files and dirs under dir as a tar with fixed
// metadata, in lexical order, so equal layouts give equal archives.
func tarDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if d.IsDir() {
			hdr.Name, hdr.Mode, hdr.Typeflag = hdr.Name+"/", 0o755, tar.TypeDir
			return tw.WriteHeader(hdr)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", path)
		}
		return copyFileToTar(tw, hdr, path)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func copyFileToTar(tw *tar.Writer, hdr *tar.Header, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	hdr.Size = fi.Size()
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}
