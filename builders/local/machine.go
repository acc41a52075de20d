package local

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/pipebuild/pipe/builders"
	"github.com/pipebuild/pipe/builders/local/image"
	"github.com/pipebuild/pipe/builders/local/layer"
	"github.com/pipebuild/pipe/builders/local/machine"
	"github.com/pipebuild/pipe/schema"
	"github.com/pipebuild/pipe/stages"
)

// ActionAnnotation is the manifest annotation holding the action id of the
// node that built an image. It is on the manifest, not the config, so that
// the OutputID (the config digest) does not change with it.
const ActionAnnotation = "build.pipe.action-id"

// Machine is a local node's machine: an overlay over its base image's
// layers.
type Machine struct {
	spec *builders.Spec
	cfg  *Config
	st   *image.Store
	base v1.Image
	root *machine.Root
	comm stages.Communicator
}

var _ builders.Machine = (*Machine)(nil)

// Communicator implements builders.Machine.
func (m *Machine) Communicator() stages.Communicator { return m.comm }

// cleanupScript removes what makes images differ between builds and what
// should not be shared: the machine id, SSH host keys, apt's lists and
// caches, log files and temporary files. Directories stay, so services
// that expect /var/log/NAME still find it.
const cleanupScript = `set -e
if [ -f /etc/machine-id ]; then : > /etc/machine-id; fi
rm -f /var/lib/dbus/machine-id /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*
rm -f /var/cache/debconf/*-old /var/lib/dpkg/*-old
if [ -d /var/log ]; then find /var/log -type f -exec rm -f {} +; fi
rm -rf /tmp/* /tmp/.[!.]* /var/tmp/* 2>/dev/null || true
`

// Capture implements builders.Machine: after the default clean-up, the
// upper directory becomes one layer appended to the base image, which is
// stored by digest; the upper directory itself becomes that layer's
// extracted form for descendants.
func (m *Machine) Capture(ctx context.Context) (*builders.Artifact, error) {
	img := m.spec.Image.(*schema.Image)
	if img.Cleanup == nil || *img.Cleanup {
		if err := m.cleanup(ctx); err != nil {
			return nil, err
		}
	}
	l, err := m.st.Capture(ctx, m.root.Upper, layer.CaptureOptions{
		SourceDateEpoch: epoch(m.cfg),
		Compression:     compression(m.cfg),
		Warn:            func(s string) { fmt.Fprintln(m.spec.Log, "warning:", s) },
	})
	if err != nil {
		return nil, fmt.Errorf("capture layer: %w", err)
	}
	out, err := m.image(l, img)
	if err != nil {
		return nil, err
	}
	digest, err := m.st.Put(ctx, out)
	if err != nil {
		return nil, fmt.Errorf("store image: %w", err)
	}
	if diffID, err := l.DiffID(); err == nil {
		// Best effort: without it the layer is extracted from its blob.
		_ = m.st.AdoptLayerDir(diffID, m.root.Upper)
	}
	cfg, err := out.ConfigName()
	if err != nil {
		return nil, err
	}
	return &builders.Artifact{Builder: "local", ID: digest.String(), OutputID: cfg.String(),
		Data: map[string]string{"manifest": digest.String(), "config": cfg.String()}}, nil
}

// cleanup runs the clean-up script if the image has a shell to run it.
func (m *Machine) cleanup(ctx context.Context) error {
	status, err := m.comm.Run(ctx, &stages.Cmd{
		Command: "if [ -x /bin/sh ] && command -v find >/dev/null; then :; else exit 99; fi",
		Stdout:  io.Discard, Stderr: io.Discard,
	})
	if err != nil || status != 0 {
		fmt.Fprintln(m.spec.Log, "skipping clean-up: the image has no shell or find")
		return nil
	}
	status, err = m.comm.Run(ctx, &stages.Cmd{Command: cleanupScript, Stdout: m.spec.Log, Stderr: m.spec.Log})
	if err != nil {
		return fmt.Errorf("clean-up: %w", err)
	}
	if status != 0 {
		return fmt.Errorf("clean-up: exit status %d", status)
	}
	return nil
}

// image appends the stage's layer to the base image and applies the
// stage's image config.
func (m *Machine) image(l v1.Layer, img *schema.Image) (v1.Image, error) {
	t := epoch(m.cfg)
	out, err := mutate.Append(m.base, mutate.Addendum{Layer: l, History: v1.History{
		Created:   v1.Time{Time: t},
		CreatedBy: "pipe stage " + stageName(m.spec.Node),
	}})
	if err != nil {
		return nil, err
	}
	cf, err := out.ConfigFile()
	if err != nil {
		return nil, err
	}
	c := applyImage(cf.Config, img)
	if out, err = mutate.Config(out, c); err != nil {
		return nil, err
	}
	if out, err = mutate.CreatedAt(out, v1.Time{Time: t}); err != nil {
		return nil, err
	}
	return mutate.Annotations(out, map[string]string{ActionAnnotation: m.spec.ActionID}).(v1.Image), nil
}

// defaultPath is the PATH an image gets when its base sets none, as
// container builders do, so that `docker run IMAGE CMD` finds CMD.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// applyImage merges a stage's image settings over the base config.
func applyImage(c v1.Config, img *schema.Image) v1.Config {
	if !slices.ContainsFunc(c.Env, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }) {
		c.Env = append([]string{defaultPath}, c.Env...)
	}
	if len(img.Env) > 0 {
		env := map[string]string{}
		var order []string
		for _, kv := range c.Env {
			k, v, _ := strings.Cut(kv, "=")
			if _, seen := env[k]; !seen {
				order = append(order, k)
			}
			env[k] = v
		}
		for _, k := range slices.Sorted(maps.Keys(img.Env)) {
			if _, seen := env[k]; !seen {
				order = append(order, k)
			}
			env[k] = img.Env[k]
		}
		c.Env = nil
		for _, k := range order {
			c.Env = append(c.Env, k+"="+env[k])
		}
	}
	if img.Entrypoint != nil {
		c.Entrypoint = img.Entrypoint
	}
	if img.Cmd != nil {
		c.Cmd = img.Cmd
	}
	if img.WorkingDir != "" {
		c.WorkingDir = img.WorkingDir
	}
	if img.User != "" {
		c.User = img.User
	}
	if len(img.Labels) > 0 {
		c.Labels = maps.Clone(c.Labels)
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		maps.Copy(c.Labels, img.Labels)
	}
	if len(img.ExposedPorts) > 0 {
		c.ExposedPorts = maps.Clone(c.ExposedPorts)
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range img.ExposedPorts {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			c.ExposedPorts[p] = struct{}{}
		}
	}
	return c
}
