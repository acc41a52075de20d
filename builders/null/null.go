// Package null implements the "null" builder: no machine at all. A node's
// "machine" is a directory tree on the host that starts as a copy of the
// upstream node's output (or of the root node's source directory, or empty);
// provisioners change it, and Capture stores it content-addressed in the
// cache store. It makes pipelines of host-side work (code generation,
// downloads, assembling files) cacheable like images, and it is the real
// machine that provisioner tests run against.
//
// Commands run on the host with the tree as their working directory, not in a
// chroot: file transfers resolve machine paths inside the tree ("/etc/x" is
// root/etc/x, and a symlink cannot lead out of it), but an absolute path in a
// command is a host path. shell-local, which runs in the tree, fits it best;
// the shell provisioner needs a relative remote_folder such as ".".
package null

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pipebuild/pipe/builders"
	"github.com/pipebuild/pipe/pipeline/cache"
)

// Type is the null builder's type name.
const Type = "null"

// Config is the configuration of a null builder entry. It has no fields yet:
// there is no machine to configure.
type Config struct{}

// Source is where a root node's tree comes from.
type Source struct {
	// Dir is a directory, relative to the pipeline file, whose copy is the
	// root node's starting tree. Empty starts from an empty tree.
	Dir string `yaml:"dir"`
}

// Builder is the null builder.
type Builder struct{}

var (
	_ builders.Builder = (*Builder)(nil)
	_ builders.Exister = (*Builder)(nil)
)

// New returns the null builder.
func New() *Builder { return &Builder{} }

// Type returns "null".
func (*Builder) Type() string { return Type }

// NewConfig returns a zero *Config.
func (*Builder) NewConfig() any { return &Config{} }

// NewSource returns a zero *Source.
func (*Builder) NewSource() any { return &Source{} }

// Prepare checks that the node has somewhere to start from: an upstream
// directory, or a source directory that exists.
func (*Builder) Prepare(spec *builders.Spec) error {
	if _, ok := spec.Config.(*Config); spec.Config != nil && !ok {
		return fmt.Errorf("null: config is %T, want *null.Config", spec.Config)
	}
	if spec.Upstream != nil {
		if spec.Upstream.Data["dir"] == "" {
			return fmt.Errorf("null: upstream artifact %s has no dir", spec.Upstream.ID)
		}
		return nil
	}
	dir, err := sourceDir(spec)
	if err != nil || dir == "" {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("source dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("source dir %s: not a directory", dir)
	}
	return nil
}

// Key writes "builder null" and, for a root node with a source directory,
// that directory's content. An upstream enters the key through its OutputID,
// which the scheduler writes.
func (*Builder) Key(spec *builders.Spec, k *cache.Key) error {
	k.Add("builder", Type)
	if spec.Upstream != nil {
		return nil
	}
	dir, err := sourceDir(spec)
	if err != nil || dir == "" {
		return err
	}
	return k.File("source.dir", dir)
}

// Launch creates the node's tree in spec.WorkDir/root from the upstream
// output, the source directory, or nothing.
func (*Builder) Launch(ctx context.Context, spec *builders.Spec, undo *builders.Undo) (builders.Machine, error) {
	from, err := sourceDir(spec)
	if err != nil {
		return nil, err
	}
	if spec.Upstream != nil {
		from = spec.Upstream.Data["dir"]
	}
	root := filepath.Join(spec.WorkDir, "root")
	// Pushed before the copy, so that a half-copied tree is removed too.
	undo.Push("remove null work tree "+root, func(context.Context) error { return removeTree(root) })
	if from == "" {
		err = os.Mkdir(root, 0o755)
		if err == nil {
			err = os.Chmod(root, 0o755) // independent of the umask
		}
	} else {
		err = copyTree(ctx, from, func(rel string) (string, error) { return filepath.Join(root, rel), nil })
	}
	if err != nil {
		return nil, fmt.Errorf("create work tree %s: %w", root, err)
	}
	return &Machine{root: root, storeDir: spec.StoreDir}, nil
}

// Exists reports whether the artifact's directory is still in the store.
func (*Builder) Exists(ctx context.Context, spec *builders.Spec, a *builders.Artifact) (bool, error) {
	dir := a.Data["dir"]
	if dir == "" {
		return false, nil
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", dir, err)
	}
	return fi.IsDir(), nil
}

// sourceDir returns the absolute source directory of a root node, or "".
func sourceDir(spec *builders.Spec) (string, error) {
	if spec.Source == nil {
		return "", nil
	}
	src, ok := spec.Source.(*Source)
	if !ok {
		return "", fmt.Errorf("null: source is %T, want *null.Source", spec.Source)
	}
	if src == nil || src.Dir == "" {
		return "", nil
	}
	if filepath.IsAbs(src.Dir) {
		return filepath.Clean(src.Dir), nil
	}
	return filepath.Join(spec.Dir, src.Dir), nil
}
