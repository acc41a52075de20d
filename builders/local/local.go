// Package local is the embedded default builder: daemonless, layered OCI
// images built on overlayfs and chroot.
//
// A node's machine is an overlay whose lower directories are the upstream
// image's layers, each extracted once into the store and shared read-only,
// and whose upper directory collects the stage's changes (package machine).
// Capture turns the upper directory into exactly one OCI layer (package
// layer) and appends it to the upstream image in the store's OCI layout
// (package image). The node's OutputID is the image's config digest, which
// covers its layers' diff ids and its config but not the action id, so a
// rebuild that produces the same files does not rebuild its descendants.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pipebuild/pipe/builders"
	"github.com/pipebuild/pipe/builders/local/image"
	"github.com/pipebuild/pipe/builders/local/layer"
	"github.com/pipebuild/pipe/builders/local/machine"
	"github.com/pipebuild/pipe/pipeline/cache"
	"github.com/pipebuild/pipe/schema"
)

// keyVersion changes when what the builder produces changes on purpose.
const keyVersion = "1"

// Config is a `type: local` builder entry.
type Config struct {
	// Compression of captured layers: gzip (the default, parallel) or zstd.
	Compression string `yaml:"compression"`
	// SourceDateEpoch clamps file times in layers and dates the image
	// config, so that the same tree gives the same digest. Default: the
	// SOURCE_DATE_EPOCH environment variable, else 0 (1970-01-01).
	SourceDateEpoch *int64 `yaml:"source_date_epoch"`
}

// Source is what a root stage on the local builder starts from: exactly one
// of its fields.
type Source struct {
	// Debootstrap builds a Debian base system with mmdebstrap.
	Debootstrap *image.Debootstrap `yaml:"debootstrap"`
	// Image starts from a registry image, pinned by digest in the key.
	Image *image.Image `yaml:"image"`
	// Rootfs starts from a root filesystem tarball (plain, gzip or zstd).
	Rootfs *image.Rootfs `yaml:"rootfs"`
	// Scratch starts from an empty root.
	Scratch bool `yaml:"scratch"`
}

// Builder is the local builder.
type Builder struct{}

var (
	_ builders.Builder       = (*Builder)(nil)
	_ builders.Exister       = (*Builder)(nil)
	_ builders.Publisher     = (*Builder)(nil)
	_ builders.OutputBuilder = (*Builder)(nil)
)

// New returns the local builder.
func New() *Builder { return &Builder{} }

// Type implements builders.Builder.
func (*Builder) Type() string { return "local" }

// NewConfig implements builders.Builder.
func (*Builder) NewConfig() any { return &Config{} }

// NewSource implements builders.Builder.
func (*Builder) NewSource() any { return &Source{} }

// NewOutput implements builders.OutputBuilder.
func (*Builder) NewOutput() any { return &image.Output{} }

// source returns the one source that is set.
func (s *Source) source() (image.Source, error) {
	var set []image.Source
	if s.Debootstrap != nil {
		set = append(set, *s.Debootstrap)
	}
	if s.Image != nil {
		set = append(set, *s.Image)
	}
	if s.Rootfs != nil {
		set = append(set, *s.Rootfs)
	}
	if s.Scratch {
		set = append(set, image.Scratch{})
	}
	if len(set) != 1 {
		return nil, errors.New("a local source is exactly one of debootstrap, image, rootfs or scratch")
	}
	return set[0], nil
}

// Prepare implements builders.Builder.
func (*Builder) Prepare(spec *builders.Spec) error {
	c := spec.Config.(*Config)
	switch c.Compression {
	case "", layer.Gzip, layer.Zstd:
	default:
		return fmt.Errorf("compression %q: use gzip or zstd", c.Compression)
	}
	if spec.Root {
		src, ok := spec.Source.(*Source)
		if !ok || src == nil || (*src == Source{}) {
			return errors.New("a root stage on the local builder needs a source: debootstrap, image, rootfs or scratch")
		}
		s, err := src.source()
		if err != nil {
			return err
		}
		if err := s.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// epoch returns the configured SOURCE_DATE_EPOCH.
func epoch(c *Config) time.Time {
	if c.SourceDateEpoch != nil {
		return time.Unix(*c.SourceDateEpoch, 0).UTC()
	}
	if n, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
		return time.Unix(n, 0).UTC()
	}
	return time.Unix(0, 0).UTC()
}

func compression(c *Config) string {
	if c.Compression == "" {
		return layer.Gzip
	}
	return c.Compression
}

// Key implements builders.Builder: the layer format, the epoch, the image
// config and, for a root node, its source.
func (*Builder) Key(spec *builders.Spec, k *cache.Key) error {
	c := spec.Config.(*Config)
	k.Add("local", "v"+keyVersion)
	k.Add("compression", compression(c))
	k.Add("epoch", strconv.FormatInt(epoch(c).Unix(), 10))
	imageKey(k.WithPrefix("image"), spec.Image.(*schema.Image))
	if !spec.Root {
		return nil
	}
	if err := pinImage(spec.Source.(*Source)); err != nil {
		return err
	}
	src, _ := spec.Source.(*Source).source()
	return sourceKey(k.WithPrefix("source"), src, spec.Dir)
}

func imageKey(k *cache.Key, img *schema.Image) {
	if img.Cleanup == nil || *img.Cleanup {
		k.Add("cleanup", "true")
	} else {
		k.Add("cleanup", "false")
	}
	if len(img.Env) > 0 {
		k.Add("env", jsonString(sortedPairs(img.Env)))
	}
	for _, f := range []struct {
		name string
		v    any
		set  bool
	}{
		{"entrypoint", img.Entrypoint, img.Entrypoint != nil},
		{"cmd", img.Cmd, img.Cmd != nil},
		{"workdir", img.WorkingDir, img.WorkingDir != ""},
		{"user", img.User, img.User != ""},
		{"labels", sortedPairs(img.Labels), len(img.Labels) > 0},
		{"exposed_ports", sortedCopy(img.ExposedPorts), len(img.ExposedPorts) > 0},
	} {
		if f.set {
			k.Add(f.name, jsonString(f.v))
		}
	}
}

func sortedPairs(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Exists implements builders.Exister: the image and all its blobs are in
// the store.
func (*Builder) Exists(_ context.Context, spec *builders.Spec, a *builders.Artifact) (bool, error) {
	st, err := openStore(spec)
	if err != nil {
		return false, err
	}
	d, err := v1.NewHash(a.Data["manifest"])
	if err != nil {
		return false, nil
	}
	return st.Has(d), nil
}

// Publish implements builders.Publisher: it writes the image to every
// output of the stage.
func (*Builder) Publish(ctx context.Context, spec *builders.Spec, a *builders.Artifact) error {
	if len(spec.Outputs) == 0 {
		return nil
	}
	st, err := openStore(spec)
	if err != nil {
		return err
	}
	img, err := artifactImage(st, a)
	if err != nil {
		return err
	}
	for _, o := range spec.Outputs {
		out := o.(*image.Output)
		if err := image.Write(ctx, img, *out, image.WriteOptions{BaseDir: spec.Dir}); err != nil {
			return err // image.Write names the output
		}
		fmt.Fprintf(spec.Log, "wrote %s\n", out)
	}
	return nil
}

func openStore(spec *builders.Spec) (*image.Store, error) {
	return image.Open(filepath.Join(spec.StoreDir, "local"))
}

func artifactImage(st *image.Store, a *builders.Artifact) (v1.Image, error) {
	d, err := v1.NewHash(a.Data["manifest"])
	if err != nil {
		return nil, fmt.Errorf("artifact %s has no manifest digest", a.ID)
	}
	return st.Image(d)
}

// Launch implements builders.Builder: it resolves the base image (the
// upstream's, or the source), makes sure its layers are extracted, and
// returns a machine over them. Nothing is mounted until a provisioner runs.
func (*Builder) Launch(ctx context.Context, spec *builders.Spec, undo *builders.Undo) (builders.Machine, error) {
	if err := machine.Check(); err != nil {
		return nil, err
	}
	st, err := openStore(spec)
	if err != nil {
		return nil, err
	}
	c := spec.Config.(*Config)
	base, err := baseImage(ctx, st, spec, epoch(c))
	if err != nil {
		return nil, err
	}
	lowers, err := st.Lowers(ctx, base)
	if err != nil {
		return nil, fmt.Errorf("extract layers: %w", err)
	}
	root := &machine.Root{
		Lower:  lowers,
		Upper:  filepath.Join(spec.WorkDir, "upper"),
		Work:   filepath.Join(spec.WorkDir, "work"),
		Merged: filepath.Join(spec.WorkDir, "merged"),
	}
	return &Machine{spec: spec, cfg: c, st: st, base: base, root: root, comm: root.Communicator()}, nil
}

func baseImage(ctx context.Context, st *image.Store, spec *builders.Spec, epoch time.Time) (v1.Image, error) {
	if !spec.Root {
		if spec.Upstream == nil {
			return nil, errors.New("no upstream artifact")
		}
		return artifactImage(st, spec.Upstream)
	}
	src, err := spec.Source.(*Source).source()
	if err != nil {
		return nil, err
	}
	if r, ok := src.(image.Rootfs); ok && !filepath.IsAbs(r.Path) {
		r.Path = filepath.Join(spec.Dir, r.Path)
		src = r
	}
	b, err := src.Resolve(ctx, st, image.ResolveOptions{SourceDateEpoch: epoch, Log: spec.Log})
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	return b.Image, nil
}

// stageName is the stage part of a node name.
func stageName(node string) string {
	s, _, _ := strings.Cut(node, "@")
	return s
}
