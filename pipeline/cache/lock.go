package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// lockPoll is how often Lock retries a held lock. Builds take minutes, so a
// waiter noticing a release 50ms late costs nothing.
const lockPoll = 50 * time.Millisecond

// Lock takes an exclusive lock on node, waiting until it is free or ctx is
// done. Two runs sharing a store build each key once: the caller locks the
// node, checks Get again, builds and Puts on a miss, then unlocks. The lock
// is a flock(2) on <dir>/locks/<pipeline>/<node>.lock, so the kernel
// releases it if the process dies; it also excludes other goroutines of the
// same process, since each Lock opens the file anew.
func (s *Store) Lock(ctx context.Context, pipeline, node string) (unlock func(), err error) {
	if err := checkNames(pipeline, node); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	dir := filepath.Join(s.dir, locksDir, pipeline)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	path := filepath.Join(dir, node+".lock")
	// The file is never removed: unlinking a lock file lets a waiter lock an
	// inode that a newcomer no longer sees.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := waitFlock(ctx, f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			// Closing the last descriptor releases the flock; the explicit
			// unlock only makes the release independent of leaked dups.
			unix.Flock(int(f.Fd()), unix.LOCK_UN)
			f.Close()
		})
	}, nil
}

// waitFlock polls a non-blocking flock rather than blocking in the kernel,
// where a blocked call could not be cancelled by ctx.
func waitFlock(ctx context.Context, f *os.File) error {
	t := time.NewTicker(lockPoll)
	defer t.Stop()
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case !errors.Is(err, unix.EWOULDBLOCK):
			return fmt.Errorf("flock: %w", err)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}

// WorkDir returns a fresh, empty, private directory under
// <dir>/work/<pipeline>/<node> for a build of node, and a cleanup that
// removes it. Keeping build scratch in the store keeps it on the same
// filesystem as the records, off the user's repository and away from a
// small tmpfs.
//
// The caller must hold node's lock: WorkDir first removes whatever earlier
// builds of node left there (a run killed with SIGKILL cannot clean up),
// which is safe only because no other build of node can be running.
func (s *Store) WorkDir(pipeline, node string) (dir string, cleanup func() error, err error) {
	if err := checkNames(pipeline, node); err != nil {
		return "", nil, fmt.Errorf("work dir: %w", err)
	}
	parent := filepath.Join(s.dir, workDir, pipeline, node)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", nil, fmt.Errorf("work dir: %w", err)
	}
	if stale, err := os.ReadDir(parent); err == nil {
		for _, e := range stale {
			if err := removeAll(filepath.Join(parent, e.Name())); err != nil {
				s.warnf("cannot remove a stale work directory: %v", err)
			}
		}
	}
	// Another node's clean-up may remove the empty pipeline directory
	// between MkdirAll and MkdirTemp: try again then.
	for try := 0; ; try++ {
		dir, err = os.MkdirTemp(parent, "build-*")
		if err == nil || !errors.Is(err, fs.ErrNotExist) || try == 3 {
			break
		}
		if err := os.MkdirAll(parent, 0o700); err != nil {
			return "", nil, fmt.Errorf("work dir: %w", err)
		}
	}
	if err != nil {
		return "", nil, fmt.Errorf("work dir: %w", err)
	}
	return dir, func() error {
		err := removeAll(dir)
		// Empty parents go too, so that an idle store has no work entries;
		// they fail harmlessly while another build uses them.
		_ = os.Remove(parent)
		_ = os.Remove(filepath.Dir(parent))
		return err
	}, nil
}

// removeAll removes dir even when a build left read-only directories in it,
// which os.RemoveAll cannot empty as a non-root user.
func removeAll(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove work dir: %w", err)
	}
	return nil
}
