package local

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pipebuild/pipe/builders/local/image"
	"github.com/pipebuild/pipe/pipeline/cache"
)

// resolveTimeout bounds the registry lookup that pins an image source.
const resolveTimeout = 2 * time.Minute

// sourceKey writes a root node's source lines without building the source:
// a debootstrap's settings, a tarball's bytes, or an image's digest.
func sourceKey(k *cache.Key, src image.Source, dir string) error {
	switch s := src.(type) {
	case image.Debootstrap:
		variant := s.Variant
		if variant == "" {
			variant = "minbase"
		}
		arch := s.Arch
		if arch == "" {
			arch = runtime.GOARCH
		}
		k.Add("debootstrap.suite", s.Suite)
		k.Add("debootstrap.variant", variant)
		k.Add("debootstrap.components", strings.Join(s.Components, ","))
		k.Add("debootstrap.include", strings.Join(s.Include, ","))
		k.Add("debootstrap.mirror", s.Mirror)
		k.Add("debootstrap.arch", arch)
		return nil
	case image.Rootfs:
		p := s.Path
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		return k.File("rootfs "+s.Path, p)
	case image.Image:
		d, err := digestOf(s)
		if err != nil {
			return err
		}
		k.Add("image", d)
		return nil
	}
	k.Add("scratch", "true")
	return nil
}

// digestOf looks up the digest an image reference points at now.
func digestOf(s image.Image) (string, error) {
	opts := []name.Option{}
	if s.Insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.ParseReference(s.Ref, opts...)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", s.Ref, err)
	}
	if d, ok := ref.(name.Digest); ok {
		return d.DigestStr(), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	desc, err := remote.Head(ref, remote.WithContext(ctx), remote.WithAuthFromKeychain(image.Keychain()))
	if err != nil {
		return "", fmt.Errorf("image %s: resolve: %w", ref, err)
	}
	return desc.Digest.String(), nil
}

// pinImage makes an image source name the digest its key was computed
// from, so that the launch pulls exactly what was keyed even if the tag
// moves in between.
func pinImage(src *Source) error {
	if src == nil || src.Image == nil || strings.Contains(src.Image.Ref, "@") {
		return nil
	}
	d, err := digestOf(*src.Image)
	if err != nil {
		return err
	}
	ref := src.Image.Ref
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	src.Image.Ref = ref + "@" + d
	return nil
}
