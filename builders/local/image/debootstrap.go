package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Debootstrap is a Debian (or derivative) base made by mmdebstrap. The
// result is cached in the store by its key lines, so every stage with the
// same source shares one mmdebstrap run. The mirror's content is not in the
// key: a rebuild against a changed archive only happens when the record
// goes (or the cache's max_age says so).
type Debootstrap struct {
	// Suite is the distribution suite or codename, such as "bookworm".
	Suite string `yaml:"suite"`
	// Variant is mmdebstrap's package set: extract, custom, essential,
	// apt, required, minbase (the default), buildd, important or standard.
	Variant string `yaml:"variant"`
	// Components are the archive components, such as [main, contrib].
	// Empty means mmdebstrap's default (main).
	Components []string `yaml:"components"`
	// Include lists extra packages to install.
	Include []string `yaml:"include"`
	// Mirror is the archive URL. Empty means the host's apt sources.
	Mirror string `yaml:"mirror"`
	// Arch is the Debian architecture, such as "amd64" or "arm64". Empty
	// means the host's.
	Arch string `yaml:"arch"`
}

// debootstrapKeyVersion changes when what Debootstrap produces changes on
// purpose.
const debootstrapKeyVersion = "1"

var variants = []string{"extract", "custom", "essential", "apt", "required", "minbase", "buildd", "important", "standard"}

// debArch maps GOARCH to Debian architecture names where they differ.
var debArch = map[string]string{"386": "i386", "arm": "armhf", "ppc64le": "ppc64el", "mips64le": "mips64el"}

// Validate implements Source.
func (src Debootstrap) Validate() error {
	var errs []error
	if src.Suite == "" {
		errs = append(errs, errors.New("debootstrap: no suite given (such as bookworm)"))
	}
	if src.Variant != "" && !slices.Contains(variants, src.Variant) {
		errs = append(errs, fmt.Errorf("debootstrap: unknown variant %q (want one of %s)", src.Variant, strings.Join(variants, ", ")))
	}
	return errors.Join(errs...)
}

func (src Debootstrap) normalized() Debootstrap {
	if src.Variant == "" {
		src.Variant = "minbase"
	}
	if src.Arch == "" {
		src.Arch = runtime.GOARCH
		if a, ok := debArch[src.Arch]; ok {
			src.Arch = a
		}
	}
	src.Include = slices.Compact(slices.Sorted(slices.Values(src.Include)))
	return src
}

// goArch is the OCI architecture of a Debian one.
func goArch(deb string) string {
	for g, d := range debArch {
		if d == deb {
			return g
		}
	}
	return deb
}

// Resolve implements Source.
func (src Debootstrap) Resolve(ctx context.Context, s *Store, opts ResolveOptions) (*Base, error) {
	src = src.normalized()
	mirror := src.Mirror
	if mirror == "" {
		mirror = "host apt sources"
	}
	key := []KeyLine{
		{"source", "debootstrap v" + debootstrapKeyVersion},
		{"suite", src.Suite},
		{"variant", src.Variant},
		{"components", strings.Join(src.Components, ",")},
		{"include", strings.Join(src.Include, ",")},
		{"mirror", mirror},
		{"arch", src.Arch},
		epochLine(opts.SourceDateEpoch),
	}
	base, err := s.cachedSource(ctx, key, func() (v1.Image, error) {
		return src.build(ctx, s, opts)
	})
	if err != nil {
		return nil, fmt.Errorf("debootstrap %s: %w", src.Suite, err)
	}
	return base, nil
}

// args is mmdebstrap's command line writing to out.
func (src Debootstrap) args(out string) []string {
	args := []string{"--variant=" + src.Variant, "--architectures=" + src.Arch}
	if len(src.Components) > 0 {
		args = append(args, "--components="+strings.Join(src.Components, ","))
	}
	if len(src.Include) > 0 {
		args = append(args, "--include="+strings.Join(src.Include, ","))
	}
	args = append(args, src.Suite, out)
	if src.Mirror != "" {
		args = append(args, src.Mirror)
	}
	return args
}

func (src Debootstrap) build(ctx context.Context, s *Store, opts ResolveOptions) (v1.Image, error) {
	bin, err := exec.LookPath("mmdebstrap")
	if err != nil {
		return nil, errors.New("mmdebstrap is not installed: apt-get install mmdebstrap")
	}
	tmp, err := s.TempDir("debootstrap-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "rootfs.tar")
	cmd := exec.CommandContext(ctx, bin, src.args(out)...)
	cmd.Env = os.Environ()
	if !opts.SourceDateEpoch.IsZero() {
		cmd.Env = append(cmd.Env, "SOURCE_DATE_EPOCH="+strconv.FormatInt(opts.SourceDateEpoch.Unix(), 10))
	}
	tail := &tailBuffer{max: 4096}
	var w io.Writer = tail
	if opts.Log != nil {
		w = io.MultiWriter(opts.Log, tail)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", cmd, err, tail)
	}
	createdBy := "pipe: mmdebstrap " + strings.Join(src.args("OUT.tar"), " ")
	return s.tarballImage(ctx, out, goArch(src.Arch), opts, createdBy)
}

// tailBuffer keeps the last max bytes written to it, for error messages.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return strings.TrimSpace(string(t.buf)) }
