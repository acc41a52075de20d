package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Output is one place a finished image is written to: exactly one of oci,
// oci_archive, docker_archive, registry or rootfs. Writing it again
// replaces what the previous write put there.
type Output struct {
	// OCI is a directory holding an OCI image layout (created if missing).
	// The image is listed under the org.opencontainers.image.ref.name
	// annotation given by tag, replacing an image listed under the same
	// name, so `skopeo inspect oci:DIR:TAG` and `umoci unpack --image
	// DIR:TAG` find it.
	OCI string `yaml:"oci"`
	// OCIArchive is a tar file holding such an OCI image layout
	// (`skopeo inspect oci-archive:FILE`).
	OCIArchive string `yaml:"oci_archive"`
	// DockerArchive is a tar file in the format of `docker save`, loadable
	// with `docker load`; the image is named by tag.
	DockerArchive string `yaml:"docker_archive"`
	// Registry is an image reference to push to, such as
	// "registry.example.com/team/app:1.0". Credentials come from
	// ~/.docker/config.json and its credential helpers.
	Registry string `yaml:"registry"`
	// Rootfs is a tar file of the image's flattened file system (layers
	// applied, whiteouts resolved), for tools that want a plain tree.
	Rootfs string `yaml:"rootfs"`
	// Tag names the image: the ref name in an OCI layout or archive
	// (default "latest"), or the repository:tag recorded in a Docker
	// archive (default "pipe:latest"). A registry output takes its tag
	// from the reference instead.
	Tag string `yaml:"tag"`
	// Insecure allows plain HTTP (and unverified TLS) when pushing to a
	// registry, for a registry on loopback.
	Insecure bool `yaml:"insecure"`
}

// WriteOptions are the settings of Write that do not come from the file.
type WriteOptions struct {
	// BaseDir resolves relative output paths, usually the pipeline file's
	// directory.
	BaseDir string
	// Remote holds the registry settings of a registry output.
	Remote RemoteOptions
}

// kind returns the output's kind and target; it assumes Validate passed.
func (o Output) kind() (kind, target string) {
	for _, c := range []struct{ k, v string }{
		{"oci", o.OCI}, {"oci_archive", o.OCIArchive}, {"docker_archive", o.DockerArchive},
		{"registry", o.Registry}, {"rootfs", o.Rootfs},
	} {
		if c.v != "" {
			return c.k, c.v
		}
	}
	return "", ""
}

// String names the output as in the file, such as `oci_archive out.tar`.
func (o Output) String() string {
	k, v := o.kind()
	return k + " " + v
}

// Validate checks that exactly one destination is set and that the other
// fields fit it. It touches nothing.
func (o Output) Validate() error {
	n := 0
	for _, v := range []string{o.OCI, o.OCIArchive, o.DockerArchive, o.Registry, o.Rootfs} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("output: want exactly one of oci, oci_archive, docker_archive, registry, rootfs; got %d", n)
	}
	switch {
	case o.Registry != "":
		if o.Tag != "" {
			return fmt.Errorf("output %s: tag is not used with registry (put the tag in the reference)", o)
		}
		if _, err := parseRef(o.Registry, o.Insecure); err != nil {
			return fmt.Errorf("output %s: %w", o, err)
		}
	case o.Insecure:
		return fmt.Errorf("output %s: insecure is only used with registry", o)
	case o.Rootfs != "" && o.Tag != "":
		return fmt.Errorf("output %s: tag is not used with rootfs", o)
	case o.DockerArchive != "" && o.Tag != "":
		if _, err := name.NewTag(o.Tag); err != nil {
			return fmt.Errorf("output %s: tag: %w", o, err)
		}
	}
	return nil
}

// Write writes img to out. Files appear only once complete (temp file and
// rename); errors name the output.
func Write(ctx context.Context, img v1.Image, out Output, opts WriteOptions) error {
	if err := out.Validate(); err != nil {
		return err
	}
	if err := write(ctx, img, out, opts); err != nil {
		return fmt.Errorf("output %s: %w", out, err)
	}
	return nil
}

func write(ctx context.Context, img v1.Image, out Output, opts WriteOptions) error {
	kind, target := out.kind()
	if kind == "registry" {
		return push(ctx, img, out, opts.Remote)
	}
	path := target
	if !filepath.IsAbs(path) {
		path = filepath.Join(opts.BaseDir, path)
	}
	if kind == "oci" {
		return writeOCIDir(img, path, ociTag(out.Tag))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	switch kind {
	case "oci_archive":
		return writeOCIArchive(img, path, ociTag(out.Tag))
	case "docker_archive":
		return writeDockerArchive(img, path, out.Tag)
	}
	return writeAtomic(path, 0o644, func(w io.Writer) error {
		rc := mutate.Extract(img)
		defer rc.Close()
		_, err := io.Copy(w, rc)
		return err
	})
}

func ociTag(tag string) string {
	if tag == "" {
		return "latest"
	}
	return tag
}

func writeDockerArchive(img v1.Image, path, tag string) error {
	if tag == "" {
		tag = "pipe:latest"
	}
	t, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("tag: %w", err)
	}
	return writeAtomic(path, 0o644, func(w io.Writer) error {
		return tarball.Write(t, img, w)
	})
}

func push(ctx context.Context, img v1.Image, out Output, ro RemoteOptions) error {
	ref, err := parseRef(out.Registry, out.Insecure)
	if err != nil {
		return err
	}
	if err := remote.Write(ref, img, ro.options(ctx)...); err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return fmt.Errorf("push %s: %w", ref, err)
	}
	return nil
}
