// Package file implements the "file" provisioner: it copies files and
// directories into the machine, or files out of it, through the
// Communicator.
//
// Uploads follow Packer's trailing-slash rule: a source directory written
// with a trailing slash copies its contents into destination, without it the
// directory itself; a destination with a trailing slash receives source
// files under their own names.
package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pipebuild/pipe/pipeline/cache"
	"github.com/pipebuild/pipe/stages"
)

// keyVersion changes when what this provisioner does with the same config
// changes, to invalidate its keys on purpose.
const keyVersion = "1"

// Directions.
const (
	Upload   = "upload"
	Download = "download"
)

// Config is the configuration of a `file:` provisioner. Exactly one of
// source, sources and content is required.
type Config struct {
	// Source is a local file or directory to upload (relative to the pipeline
	// file), or with direction download a file in the machine.
	Source string `yaml:"source"`
	// Sources are several sources; destination must then end with "/".
	Sources []string `yaml:"sources"`
	// Content is uploaded as the destination file's content (mode 0644).
	Content string `yaml:"content"`
	// Destination is the path in the machine, or with direction download the
	// local path (relative to the pipeline file). A trailing "/" names a
	// directory that receives the sources under their own names.
	Destination string `yaml:"destination"`
	// Direction is "upload" (the default) or "download".
	Direction string `yaml:"direction"`
}

// Provisioner is the "file" provisioner.
type Provisioner struct{}

var _ stages.Provisioner = (*Provisioner)(nil)

// New returns the file provisioner.
func New() *Provisioner { return &Provisioner{} }

// Type returns "file".
func (*Provisioner) Type() string { return "file" }

// NewConfig returns a zero *Config.
func (*Provisioner) NewConfig() any { return &Config{} }

// Prepare checks the combination of fields and that upload sources exist.
func (*Provisioner) Prepare(cfg any, dir string) error {
	c, err := config(cfg)
	if err != nil {
		return err
	}
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Destination == "" {
		add("destination is required")
	}
	n := 0
	for _, set := range []bool{c.Source != "", len(c.Sources) > 0, c.Content != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		add("exactly one of source, sources or content is required")
	}
	if len(c.Sources) > 1 && !strings.HasSuffix(c.Destination, "/") {
		add("destination %q must end with / when there are several sources", c.Destination)
	}
	switch direction(c) {
	case Upload:
		for _, s := range sources(c) {
			if _, err := os.Stat(resolve(dir, s)); err != nil {
				add("source %s: %w", s, err)
			}
		}
	case Download:
		if c.Content != "" {
			add("content cannot be downloaded")
		}
	default:
		add("direction %q must be %q or %q", c.Direction, Upload, Download)
	}
	return errors.Join(errs...)
}

// Key writes the destination, direction and content, and for uploads the
// content of every source; a downloaded file changes nothing in the image,
// so its machine path is only a line.
func (*Provisioner) Key(cfg any, dir string, k *cache.Key) error {
	c, err := config(cfg)
	if err != nil {
		return err
	}
	k.Add("version", keyVersion)
	k.Add("direction", direction(c))
	k.Add("destination", c.Destination)
	if c.Content != "" {
		k.Add("content", strconv.Quote(c.Content))
	}
	for _, s := range sources(c) {
		if direction(c) == Download {
			k.Add("source", s)
			continue
		}
		if err := k.File(s, resolve(dir, s)); err != nil {
			return err
		}
	}
	return nil
}

// Run copies the sources or content.
func (*Provisioner) Run(ctx context.Context, cfg any, env *stages.Env) error {
	c, err := config(cfg)
	if err != nil {
		return err
	}
	if direction(c) == Download {
		for _, s := range sources(c) {
			if err := download(ctx, env, s, c.Destination); err != nil {
				return err
			}
		}
		return nil
	}
	if c.Content != "" {
		if err := env.Comm.Upload(ctx, c.Destination, strings.NewReader(c.Content), 0o644); err != nil {
			return fmt.Errorf("upload content to %s: %w", c.Destination, err)
		}
		return nil
	}
	for _, s := range sources(c) {
		if err := upload(ctx, env, s, c.Destination); err != nil {
			return err
		}
	}
	return nil
}

func upload(ctx context.Context, env *stages.Env, src, dst string) error {
	local := resolve(env.Dir, src)
	fi, err := os.Stat(local)
	if err != nil {
		return fmt.Errorf("upload %s: %w", src, err)
	}
	if fi.IsDir() {
		if strings.HasSuffix(src, "/") {
			// resolve cleaned the slash away; it carries the meaning here.
			local += "/"
		}
		if err := env.Comm.UploadDir(ctx, dst, local); err != nil {
			return fmt.Errorf("upload %s to %s: %w", src, dst, err)
		}
		return nil
	}
	if strings.HasSuffix(dst, "/") {
		dst += filepath.Base(local)
	}
	f, err := os.Open(local)
	if err != nil {
		return fmt.Errorf("upload %s: %w", src, err)
	}
	defer f.Close()
	if err := env.Comm.Upload(ctx, dst, f, fi.Mode().Perm()); err != nil {
		return fmt.Errorf("upload %s to %s: %w", src, dst, err)
	}
	return nil
}

// download writes the machine file src to the local dst through a temporary
// file beside it, so that a failed download leaves no partial file.
func download(ctx context.Context, env *stages.Env, src, dst string) error {
	local := resolve(env.Dir, dst)
	if strings.HasSuffix(dst, "/") {
		local = filepath.Join(local, path.Base(src))
	}
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		return fmt.Errorf("download %s: %w", src, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(local), ".pipe-download-*")
	if err != nil {
		return fmt.Errorf("download %s: %w", src, err)
	}
	defer os.Remove(tmp.Name())
	err = env.Comm.Download(ctx, src, tmp)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), local)
	}
	if err != nil {
		return fmt.Errorf("download %s to %s: %w", src, local, err)
	}
	return nil
}

func direction(c *Config) string {
	if c.Direction == "" {
		return Upload
	}
	return c.Direction
}

func sources(c *Config) []string {
	if c.Source != "" {
		return []string{c.Source}
	}
	return c.Sources
}

func resolve(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

func config(cfg any) (*Config, error) {
	c, ok := cfg.(*Config)
	if !ok || c == nil {
		return nil, fmt.Errorf("file: config is %T, want *file.Config", cfg)
	}
	return c, nil
}
