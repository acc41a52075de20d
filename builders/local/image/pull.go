package image

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Image is a base image from a registry, pinned by digest: the reference
// is resolved once per Resolve (one manifest request), and the digest, not
// the reference, enters the key. Layers are pulled only if the store lacks
// them.
type Image struct {
	// Ref is the image reference, such as "debian:bookworm" or
	// "registry.example.com/base@sha256:…". A multi-platform index
	// resolves to its linux image for the host's architecture.
	Ref string `yaml:"ref"`
	// Insecure allows plain HTTP (and unverified TLS) to the registry,
	// for a registry on loopback.
	Insecure bool `yaml:"insecure"`
}

// imageKeyVersion changes when what Image produces changes on purpose.
const imageKeyVersion = "1"

// Validate implements Source.
func (src Image) Validate() error {
	if src.Ref == "" {
		return errors.New("image: no reference given")
	}
	if _, err := src.reference(); err != nil {
		return fmt.Errorf("image %q: %w", src.Ref, err)
	}
	return nil
}

func (src Image) reference() (name.Reference, error) {
	return parseRef(src.Ref, src.Insecure)
}

func parseRef(ref string, insecure bool) (name.Reference, error) {
	if insecure {
		return name.ParseReference(ref, name.Insecure)
	}
	return name.ParseReference(ref)
}

// Resolve implements Source.
func (src Image) Resolve(ctx context.Context, s *Store, opts ResolveOptions) (*Base, error) {
	ref, err := src.reference()
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", src.Ref, err)
	}
	desc, err := remote.Get(ref, opts.Remote.options(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("image %s: resolve: %w", ref, err)
	}
	img, err := desc.Image()
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	key := []KeyLine{{"source", "image v" + imageKeyVersion}, {"digest", d.String()}}
	if s.Has(d) {
		stored, err := s.Image(d)
		if err != nil {
			return nil, err
		}
		return &Base{Image: stored, Digest: d, Key: key}, nil
	}
	base, err := putBase(ctx, s, img, key)
	if err != nil {
		return nil, fmt.Errorf("image %s: pull: %w", ref, err)
	}
	return base, nil
}

// options turns o into go-containerregistry remote options.
func (o RemoteOptions) options(ctx context.Context) []remote.Option {
	kc := o.Keychain
	if kc == nil {
		kc = Keychain()
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(kc),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}),
	}
	if o.Transport != nil {
		opts = append(opts, remote.WithTransport(o.Transport))
	}
	return opts
}
