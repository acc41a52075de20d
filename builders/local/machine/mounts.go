package machine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// hostDevices are the host's device nodes a machine's /dev gets, bound one
// by one onto an otherwise empty tmpfs: no disks, no /dev/mem.
var hostDevices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// devLinks are the symlinks every /dev has.
var devLinks = [][2]string{
	{"fd", "/proc/self/fd"},
	{"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"},
	{"stderr", "/proc/self/fd/2"},
	{"ptmx", "pts/ptmx"},
}

// binds are host files cloned as detached mounts before the helper
// enters the tree, and attached inside the tree afterwards: the host's paths are
// out of reach once inside, and no path in the image is ever used to name a
// host file.
type binds struct {
	devices    map[string]int // name in /dev → open_tree fd
	resolvConf int            // -1: none
}

// openBinds clones the host's device nodes and resolv.conf.
func openBinds(r *Root) (*binds, error) {
	b := &binds{devices: map[string]int{}, resolvConf: -1}
	for _, name := range hostDevices {
		fd, err := cloneMount("/dev/" + name)
		if err != nil {
			return nil, err
		}
		b.devices[name] = fd
	}
	rc, required := r.resolvConf()
	fd, err := cloneMount(rc)
	switch {
	case err == nil:
		// Read-only: a script writing /etc/resolv.conf must not rewrite
		// the host's.
		attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID |
			unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err != nil {
			return nil, fmt.Errorf("make bind of %s read-only: %w", rc, err)
		}
		b.resolvConf = fd
	case required || !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	return b, nil
}

// cloneMount returns a detached bind mount of the host path p.
func cloneMount(p string) (int, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, p, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("clone mount of %s: %w", p, err)
	}
	return fd, nil
}

// attach mounts the detached mount fd at p, a path already resolved inside
// the tree.
func attach(fd int, p string) error {
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, p, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("bind onto %s: %w", p, err)
	}
	return nil
}

// setup mounts /proc, /sys, /dev and resolv.conf inside the tree (the
// helper is inside it) and makes sure /tmp exists, recording in t what to
// undo.
func (t *tree) setup(b *binds) error {
	const fsFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	// A proc of the helper's own PID namespace: the command sees only its
	// own processes.
	if err := t.mount("/proc", "proc", "proc", fsFlags, ""); err != nil {
		return err
	}
	if err := t.mount("/sys", "sysfs", "sysfs", fsFlags|unix.MS_RDONLY, ""); err != nil {
		return err
	}
	// nodev: the command keeps CAP_MKNOD (for FIFOs), but a block device
	// it makes must not open the host's disk. The device nodes bound into
	// /dev are mounts of their own, with the host /dev's flags.
	if err := t.mount("/dev", "tmpfs", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755,size=65536k"); err != nil {
		return err
	}
	if err := fillDev(b); err != nil {
		return err
	}
	// After fillDev, which makes the /dev/null that masks files.
	if err := protectKernelPaths(); err != nil {
		return err
	}
	if b.resolvConf >= 0 {
		p, err := t.ensureFile("/etc/resolv.conf", 0o644, nil)
		if err != nil {
			return err
		}
		if err := attach(b.resolvConf, p); err != nil {
			return err
		}
		t.mounted(p)
	}
	_, err := t.ensureDir("/tmp", 0o777|fs.ModeSticky)
	return err
}

// readOnlyPaths and maskedPaths are runc's and Docker's defaults: the
// parts of /proc and /sys that reach the whole host's kernel rather than
// the machine's processes. A command may read the first (sysctl -a works)
// but not write them (vm.swappiness, kernel.core_pattern, sysrq); the
// second it cannot even read (kernel memory, keys, timers of every
// process).
var (
	readOnlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
	maskedPaths   = []string{
		"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/sched_debug", "/proc/scsi", "/proc/timer_list", "/proc/timer_stats",
		"/sys/devices/virtual/powercap", "/sys/firmware",
	}
)

// protectKernelPaths makes readOnlyPaths read-only and masks maskedPaths,
// those that this kernel has: a file under /dev/null, a directory under an
// empty read-only tmpfs. The mounts sit on /proc and /sys, whose detaching
// takes them along; the command, without CAP_SYS_ADMIN, cannot undo them.
func protectKernelPaths() error {
	const flags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	for _, p := range readOnlyPaths {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s onto itself: %w", p, err)
		}
		if err := unix.Mount("", p, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|flags, ""); err != nil {
			return fmt.Errorf("make %s read-only: %w", p, err)
		}
	}
	for _, p := range maskedPaths {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		switch {
		case err != nil:
			return err
		case fi.IsDir():
			err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|flags, "mode=0555")
		default:
			err = unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	return nil
}

// mount mounts a filesystem at the directory p of the tree, creating it if
// missing. A symlink there is refused, as runc refuses it: following it
// (inside the tree) would hide some other directory, /etc say, under
// /proc, and the command would run in a broken machine.
func (t *tree) mount(p, source, fstype string, flags uintptr, data string) error {
	if fi, err := os.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		target, _ := os.Readlink(p)
		return fmt.Errorf("the machine's %s is a symlink (to %s): refusing to mount %s over it", p, target, fstype)
	}
	dir, err := t.ensureDir(p, 0o755)
	if err != nil {
		return err
	}
	if err := unix.Mount(source, dir, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s at %s: %w", fstype, dir, err)
	}
	t.mounted(dir)
	return nil
}

// fillDev populates the fresh tmpfs at /dev. Everything here lives on the
// tmpfs, so nothing needs recording: it vanishes with the mount.
func fillDev(b *binds) error {
	for _, name := range hostDevices {
		p := path.Join("/dev", name)
		if err := os.WriteFile(p, nil, 0o666); err != nil {
			return fmt.Errorf("create %s: %w", p, err)
		}
		if err := attach(b.devices[name], p); err != nil {
			return err
		}
	}
	for _, l := range devLinks {
		if err := os.Symlink(l[1], path.Join("/dev", l[0])); err != nil {
			return fmt.Errorf("create /dev/%s: %w", l[0], err)
		}
	}
	for _, dir := range []string{"/dev/pts", "/dev/shm"} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
	}
	// newinstance: the machine's ptys are its own, not the host's.
	if err := unix.Mount("devpts", "/dev/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC,
		"newinstance,ptmxmode=0666,mode=0620,gid=5"); err != nil {
		return fmt.Errorf("mount devpts at /dev/pts: %w", err)
	}
	if err := unix.Mount("shm", "/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC,
		"mode=1777,size=65536k"); err != nil {
		return fmt.Errorf("mount tmpfs at /dev/shm: %w", err)
	}
	return nil
}
