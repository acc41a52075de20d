package machine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// machineHostname and machineDomainname are a machine's host and NIS
// domain names, fixed so that builds are reproducible; "(none)" is the
// kernel's default domain name.
const (
	machineHostname   = "pipe-build"
	machineDomainname = "(none)"
)

// exitHelperFailed is the helper's exit status when the operation failed
// before or around the command; the real answer is in the result on fd 4.
const exitHelperFailed = 125

// helperMain serves one request in the helper process and returns its exit
// status: the command's for Run, 0 or exitHelperFailed otherwise.
func helperMain() int {
	// Neither descriptor may reach the command a Run starts.
	syscall.CloseOnExec(requestFD)
	syscall.CloseOnExec(resultFD)
	out := os.NewFile(resultFD, "result")
	// Keep the image's modes independent of the umask pipe was started with,
	// as a container build does.
	syscall.Umask(0o022)

	var req request
	res := result{Exit: exitHelperFailed}
	err := json.NewDecoder(os.NewFile(requestFD, "request")).Decode(&req)
	if err == nil {
		res.Exit, err = serve(&req)
	}
	if err != nil {
		res.Error = err.Error()
		var errno syscall.Errno
		if errors.As(err, &errno) {
			res.Errno = errno
		}
		res.Exit = exitHelperFailed
	}
	if jerr := json.NewEncoder(out).Encode(&res); jerr != nil {
		fmt.Fprintf(os.Stderr, "%s: write result: %v\n", helperName, jerr)
		return exitHelperFailed
	}
	return res.Exit
}

// serve does what req asks inside the machine and returns the command's
// exit status for Run.
func serve(req *request) (int, error) {
	// Mounts made from here on must never propagate back to the host, whose
	// "/" is usually shared (systemd); this comes before anything else.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return 0, fmt.Errorf("make / private: %w", err)
	}
	// The UTS namespace is the helper's own: a command's `hostname` cannot
	// rename the host, and every build sees the same name.
	if err := unix.Sethostname([]byte(machineHostname)); err != nil {
		return 0, fmt.Errorf("set the machine's hostname: %w", err)
	}
	if err := unix.Setdomainname([]byte(machineDomainname)); err != nil {
		return 0, fmt.Errorf("set the machine's domain name: %w", err)
	}
	if req.Op == opProbe {
		return 0, nil
	}
	if err := lockWork(req.Root.Work); err != nil {
		return 0, err
	}
	if err := mountOverlay(&req.Root); err != nil {
		return 0, err
	}
	switch req.Op {
	case opRun:
		return runOp(req)
	case opUpload:
		return 0, enterAnd(req.Root.Merged, func() error { return upload(req.Path, os.Stdin, req.Mode) })
	case opDownload:
		return 0, enterAnd(req.Root.Merged, func() error { return download(req.Path, os.Stdout) })
	case opUploadDir:
		return uploadDirOp(req)
	}
	return 0, fmt.Errorf("unknown operation %q", req.Op)
}

// lockWork creates the work directory and locks it for the helper's
// lifetime. Two overlays sharing an upper directory are undefined
// behaviour; the lock lets operations on one machine take turns, across
// processes too, and dies with the helper.
func lockWork(work string) error {
	if err := os.MkdirAll(work, 0o700); err != nil {
		return fmt.Errorf("create work directory: %w", err)
	}
	fd, err := unix.Open(work, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("open work directory %s: %w", work, err)
	}
	// fd is left open on purpose: closing it would drop the lock.
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock work directory %s: %w", work, err)
	}
	return nil
}

// enterAnd moves the helper into the merged tree, then runs f. From then
// on the kernel resolves every path inside the tree: absolute symlinks and
// ".." stop at its root.
func enterAnd(merged string, f func() error) error {
	if err := enter(merged); err != nil {
		return err
	}
	return f()
}

// chrootOnly records that enter had to fall back to chroot; see enter.
var chrootOnly bool

// enter makes the merged tree the root of the helper's mount namespace, as
// runc does: pivot_root, then the host's root, stacked under it, is
// detached. A chroot alone would leave the host's root in the namespace,
// one chroot("sub"); chdir("../../..") away for a command that keeps
// CAP_SYS_CHROOT. Where pivot_root is impossible (a root on initramfs) the
// helper chroots instead, and its commands lose CAP_SYS_CHROOT.
func enter(merged string) error {
	if err := unix.Chdir(merged); err != nil {
		return fmt.Errorf("chdir %s: %w", merged, err)
	}
	err := unix.PivotRoot(".", ".")
	if errors.Is(err, unix.EINVAL) {
		if err := unix.Chroot("."); err != nil {
			return fmt.Errorf("chroot %s: %w", merged, err)
		}
		chrootOnly = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("pivot_root to %s: %w", merged, err)
	}
	// "." is now the old root, mounted over the new one.
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the host's root: %w", err)
	}
	// A working directory left outside the new root would let relative
	// paths escape it.
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir / in %s: %w", merged, err)
	}
	return nil
}
