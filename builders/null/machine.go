package null

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/pipebuild/pipe/builders"
	"github.com/pipebuild/pipe/stages"
)

// Machine is a null builder node's tree on the host.
type Machine struct {
	root     string
	storeDir string
}

var _ builders.HostDirMachine = (*Machine)(nil)

// Communicator returns a communicator that runs commands in the tree and
// moves files in and out of it.
func (m *Machine) Communicator() stages.Communicator { return &Communicator{root: m.root} }

// HostDir returns the tree's host directory, where shell-local runs.
func (m *Machine) HostDir() string { return m.root }

// Capture digests the tree and moves it into the store under its digest,
// StoreDir/null/<hex>. An entry that is already there is kept: its content
// is the same by construction. Capture ends the machine: its tree is gone
// from the work directory afterwards.
func (m *Machine) Capture(ctx context.Context) (*builders.Artifact, error) {
	sum, err := digestTree(ctx, m.root)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(m.storeDir, Type, sum)
	if err := store(ctx, m.root, dir); err != nil {
		return nil, err
	}
	id := "sha256:" + sum
	return &builders.Artifact{
		Builder:  Type,
		ID:       id,
		OutputID: id,
		Data:     map[string]string{"dir": dir},
	}, nil
}

// store moves the tree at root to dir atomically, so that a reader (or a
// concurrent run) sees either no entry or a complete one. A rename is
// enough on one filesystem; across filesystems the tree is copied to a
// temporary directory beside dir and renamed into place.
func store(ctx context.Context, root, dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("store %s: %w", dir, err)
	}
	if _, err := os.Lstat(dir); err == nil {
		return nil
	}
	err := os.Rename(root, dir)
	if err == nil || exists(err) {
		return nil
	}
	if !errors.Is(err, syscall.EXDEV) {
		return fmt.Errorf("store %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tmp-"+filepath.Base(dir)+"-")
	if err != nil {
		return fmt.Errorf("store %s: %w", dir, err)
	}
	defer removeTree(tmp)
	tree := filepath.Join(tmp, "tree")
	if err := copyTree(ctx, root, func(rel string) (string, error) { return filepath.Join(tree, rel), nil }); err != nil {
		return fmt.Errorf("store %s: %w", dir, err)
	}
	if err := os.Rename(tree, dir); err != nil && !exists(err) {
		return fmt.Errorf("store %s: %w", dir, err)
	}
	return nil
}

// exists reports whether a rename failed because another run stored the
// same tree first.
func exists(err error) bool {
	return errors.Is(err, os.ErrExist) || errors.Is(err, syscall.ENOTEMPTY)
}
