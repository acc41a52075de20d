package stages

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// WriteHostFile writes r to the host file path with mode, refusing a
// symlink at path (O_NOFOLLOW). Communicators that reach a machine through
// the host's file system (the null builder's tree, the local builder's
// overlay) write uploads with it.
func WriteHostFile(path string, r io.Reader, mode fs.FileMode) error {
	// Hold off forks while the file is open for writing: a process forked
	// meanwhile would inherit the descriptor until its exec, and running
	// the file (an uploaded script) would fail with "text file busy"
	// (golang/go#22315).
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = io.Copy(out, r)
	if err == nil {
		// Chmod rather than the open mode: the umask must not change the
		// image, and an existing file must take the new mode.
		err = out.Chmod(KeptMode(mode))
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// KeptMode is the part of a file mode that a copy into a machine keeps:
// permissions and the setuid, setgid and sticky bits.
func KeptMode(m fs.FileMode) fs.FileMode {
	return m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}
