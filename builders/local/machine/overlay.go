package machine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// maxMountData is the size of the page through which mount(2) passes
// options; a longer lowerdir list is cut off by the kernel.
const maxMountData = 4096

// emptyLowerName is the directory, next to Work, that a scratch machine uses
// as its lower layer: overlayfs needs at least one.
const emptyLowerName = "empty-lower"

// mountOverlay creates the upper, work and merged directories if missing
// and mounts the overlay at Merged, in the helper's mount namespace.
func mountOverlay(r *Root) error {
	for _, dir := range []*string{&r.Upper, &r.Work, &r.Merged} {
		if *dir == "" {
			return errors.New("machine root needs Upper, Work and Merged directories")
		}
		// Absolute, because overlayOptions may change the working directory.
		var err error
		if *dir, err = filepath.Abs(*dir); err != nil {
			return err
		}
		if err := os.MkdirAll(*dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", *dir, err)
		}
	}
	lower, err := lowerDirs(r)
	if err != nil {
		return err
	}
	opts, err := overlayOptions(lower, r.Upper, r.Work)
	if err != nil {
		return err
	}
	// nodev: a device node in an image must not open the host's device
	// (through Upload, say); /dev inside is a separate mount of its own.
	if err := unix.Mount("overlay", r.Merged, "overlay", unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount overlay at %s (lower %s, upper %s): %w; the kernel log (dmesg) says why",
			r.Merged, strings.Join(lower, ":"), r.Upper, err)
	}
	return nil
}

// lowerDirs returns the lower layers, or for a scratch machine the empty
// directory next to Work.
func lowerDirs(r *Root) ([]string, error) {
	if len(r.Lower) > 0 {
		return r.Lower, nil
	}
	empty := filepath.Join(filepath.Dir(filepath.Clean(r.Work)), emptyLowerName)
	if err := os.MkdirAll(empty, 0o755); err != nil {
		return nil, fmt.Errorf("create empty lower directory: %w", err)
	}
	// Whatever sat in it would appear in every scratch machine.
	entries, err := os.ReadDir(empty)
	if err != nil {
		return nil, fmt.Errorf("read empty lower directory: %w", err)
	}
	if len(entries) > 0 {
		return nil, fmt.Errorf("empty lower directory %s is not empty", empty)
	}
	return []string{empty}, nil
}

// overlayOptions renders the mount options. redirect_dir=off makes renaming
// a lower directory fail with EXDEV (so mv copies it) and metacopy=off makes
// a chmod copy the whole file up: the upper directory then holds complete
// files and plain whiteouts that a layer can be made of, with no overlay
// xattrs pointing into lower layers. index=off goes with redirect_dir=off
// and lets the same upper be mounted again over the same lowers.
//
// When the options would not fit the kernel's page, the lower directories
// are named relative to their common parent, which becomes the helper's
// working directory.
func overlayOptions(lower []string, upper, work string) (string, error) {
	for _, p := range append([]string{upper, work}, lower...) {
		if strings.ContainsAny(p, ",:\\") {
			return "", fmt.Errorf("overlay directory %s contains one of , : \\, which mount options cannot carry", p)
		}
	}
	abs := make([]string, len(lower))
	for i, l := range lower {
		var err error
		if abs[i], err = filepath.Abs(l); err != nil {
			return "", err
		}
	}
	render := func(lowers []string) string {
		return fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s,redirect_dir=off,metacopy=off,index=off",
			strings.Join(lowers, ":"), upper, work)
	}
	if opts := render(abs); len(opts) < maxMountData {
		return opts, nil
	}
	parent := commonParent(abs)
	rel := make([]string, len(abs))
	for i, l := range abs {
		rel[i] = strings.TrimPrefix(strings.TrimPrefix(l, parent), "/")
	}
	opts := render(rel)
	if len(opts) >= maxMountData {
		return "", fmt.Errorf("overlay options for %d lower directories take %d bytes, more than the kernel's %d: "+
			"use fewer layers or shorter paths", len(lower), len(opts), maxMountData)
	}
	if err := os.Chdir(parent); err != nil {
		return "", fmt.Errorf("chdir to the lower directories' parent %s: %w", parent, err)
	}
	return opts, nil
}

// commonParent is the longest directory that contains every path in abs.
func commonParent(abs []string) string {
	parent := filepath.Dir(abs[0])
	for _, p := range abs[1:] {
		for parent != "/" && !strings.HasPrefix(p, parent+"/") {
			parent = filepath.Dir(parent)
		}
	}
	return parent
}
