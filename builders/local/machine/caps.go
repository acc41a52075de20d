package machine

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// commandCaps are the capabilities a command may hold: Docker's default
// set, enough for package installs (chown, setuid/setgid, setcap, mknod of
// FIFOs, ping) and nothing that reaches the kernel's global state. Without
// CAP_SYS_ADMIN a command can neither mount nor remount, so the read-only
// and masked parts of /proc and /sys stay that way; without CAP_SYS_PTRACE
// it cannot look through the helper's /proc/1/fd, root or cwd.
var commandCaps = []int{
	unix.CAP_AUDIT_WRITE,
	unix.CAP_CHOWN,
	unix.CAP_DAC_OVERRIDE,
	unix.CAP_FOWNER,
	unix.CAP_FSETID,
	unix.CAP_KILL,
	unix.CAP_MKNOD,
	unix.CAP_NET_BIND_SERVICE,
	unix.CAP_NET_RAW,
	unix.CAP_SETFCAP,
	unix.CAP_SETGID,
	unix.CAP_SETPCAP,
	unix.CAP_SETUID,
	unix.CAP_SYS_CHROOT,
}

// commandCapMask is commandCaps as a bit mask (0xa80425fb), less
// CAP_SYS_CHROOT in a helper that could only chroot (see enter).
func commandCapMask() uint64 {
	var m uint64
	for _, c := range commandCaps {
		m |= 1 << c
	}
	if chrootOnly {
		m &^= 1 << unix.CAP_SYS_CHROOT
	}
	return m
}

// startRestricted calls start on an OS thread of its own whose
// capabilities are first cut down to commandCaps: bounding set,
// effective, permitted and inheritable sets, and an empty ambient set. A
// child forked by start inherits them, whatever user it runs as and
// whatever setuid or file-capability binaries it executes; the ambient set
// would otherwise hand capabilities to non-root users.
//
// Capabilities belong to threads, not processes: the rest of the helper
// keeps CAP_SYS_ADMIN and can unmount what it mounted once the command is
// done. The thread is never unlocked, so Go ends it when start returns
// instead of reusing it for other goroutines.
func startRestricted(start func() (*os.Process, error)) (*os.Process, error) {
	type started struct {
		p   *os.Process
		err error
	}
	ch := make(chan started, 1)
	go func() {
		runtime.LockOSThread()
		if err := restrictThreadCaps(commandCapMask()); err != nil {
			ch <- started{err: err}
			return
		}
		p, err := start()
		ch <- started{p, err}
	}()
	s := <-ch
	return s.p, s.err
}

// restrictThreadCaps limits the calling thread's capability sets to keep.
func restrictThreadCaps(keep uint64) error {
	last, err := capLastCap()
	if err != nil {
		return err
	}
	for c := 0; c <= last; c++ {
		if keep&(1<<c) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	// Kernels before 4.3 have no ambient set, and so nothing to clear.
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return fmt.Errorf("clear the ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	for i := range data {
		m := uint32(keep >> (32 * i))
		data[i].Effective &= m
		data[i].Permitted &= m
		data[i].Inheritable &= m
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("limit capabilities: %w", err)
	}
	return nil
}

// capLastCap is the highest capability the running kernel knows. It is
// read from the machine's own /proc, mounted by then.
func capLastCap() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("read the last capability: %w", err)
	}
	last, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || last < unix.CAP_SETFCAP || last > 63 {
		return 0, fmt.Errorf("read the last capability: bad /proc/sys/kernel/cap_last_cap %q", b)
	}
	return last, nil
}
