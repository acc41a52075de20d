package image

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// A Source is what a root stage starts from. Validate checks the fields
// without side effects; Resolve makes the base image, puts it in the store
// and returns it with its key lines.
type Source interface {
	Validate() error
	Resolve(ctx context.Context, s *Store, opts ResolveOptions) (*Base, error)
}

var (
	_ Source = Debootstrap{}
	_ Source = Image{}
	_ Source = Rootfs{}
	_ Source = Scratch{}
)

// KeyLine is one readable line of a cache key: a name and its value. Lines
// come in a fixed order per source kind, the first one being
// {"source", "<kind> v<key version>"}; the cache hashes them in that order.
type KeyLine struct {
	Name, Value string
}

// Base is a resolved source: an image already in the store, its manifest
// digest, and the key lines that identify its content.
type Base struct {
	Image  v1.Image
	Digest v1.Hash
	Key    []KeyLine
}

// ResolveOptions are the run's settings that sources use.
type ResolveOptions struct {
	// SourceDateEpoch clamps the mtimes of layers made from tarballs and
	// is passed to mmdebstrap; it is a key line of those sources. Zero
	// keeps mtimes.
	SourceDateEpoch time.Time
	// Log receives the output of tools such as mmdebstrap. Nil discards
	// it (errors still quote its end).
	Log io.Writer
	// Remote holds the registry settings of Image sources.
	Remote RemoteOptions
}

// RemoteOptions configure registry access.
type RemoteOptions struct {
	// Keychain finds credentials; nil means Keychain()
	// (~/.docker/config.json and credential helpers).
	Keychain authn.Keychain
	// Transport is the HTTP transport; nil means a clone of
	// remote.DefaultTransport.
	Transport http.RoundTripper
}

// epochLine renders the SourceDateEpoch key line.
func epochLine(t time.Time) KeyLine {
	if t.IsZero() {
		return KeyLine{"epoch", "none"}
	}
	return KeyLine{"epoch", strconv.FormatInt(t.Unix(), 10)}
}

// Scratch is the empty image: no layers, a config naming linux and the
// host's architecture.
type Scratch struct{}

// scratchKeyVersion changes when what Scratch produces changes on purpose.
const scratchKeyVersion = "1"

// Validate implements Source.
func (Scratch) Validate() error { return nil }

// Resolve implements Source.
func (Scratch) Resolve(ctx context.Context, s *Store, opts ResolveOptions) (*Base, error) {
	img, err := emptyImage(runtime.GOARCH, opts.SourceDateEpoch)
	if err != nil {
		return nil, fmt.Errorf("scratch: %w", err)
	}
	key := []KeyLine{{"source", "scratch v" + scratchKeyVersion}, {"arch", runtime.GOARCH}}
	return putBase(ctx, s, img, key)
}

// emptyImage is an image with OCI media types and no layers whose config
// has os linux and the given architecture: tools such as umoci refuse an
// empty os, which go-containerregistry's empty.Image has.
func emptyImage(arch string, created time.Time) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", arch
	if !created.IsZero() {
		cfg.Created = v1.Time{Time: created.UTC()}
	}
	return mutate.ConfigFile(img, cfg)
}

func putBase(ctx context.Context, s *Store, img v1.Image, key []KeyLine) (*Base, error) {
	d, err := s.Put(ctx, img)
	if err != nil {
		return nil, err
	}
	stored, err := s.Image(d)
	if err != nil {
		return nil, err
	}
	return &Base{Image: stored, Digest: d, Key: key}, nil
}
