// Package machine is the local builder's build machine: an overlayfs over
// read-only layer directories, made the root of a mount namespace of its
// own, with /proc, /sys, a small /dev and the host's resolv.conf mounted
// inside while a command runs.
//
// # Why every operation re-executes pipe
//
// A mount made by pipe itself would outlive pipe if pipe were killed with
// SIGKILL (or crashed, or a cleanup were forgotten): a leaked overlay keeps
// layer directories busy and a leaked bind of /dev lets a later `rm -rf` of
// the work tree reach the host. So pipe never mounts anything in its own
// mount namespace. Every Communicator operation (Run, Upload, UploadDir,
// Download) starts /proc/self/exe again as a helper process named
// "pipe-machine-helper" in fresh mount, PID, UTS and IPC namespaces. The
// helper is the only process that ever sees the machine's mounts:
//
//   - the mounts live in the helper's mount namespace, which the kernel
//     destroys, with every mount in it, when the last process in it exits;
//   - the helper is PID 1 of its PID namespace, so when it exits the kernel
//     kills every process a script left behind (daemons, `sleep &`);
//   - the helper dies with pipe (Pdeathsig), and a cancelled context kills
//     its process group.
//
// Nothing therefore needs unmounting from the outside, ever: the host's
// mount table never contains the machine. The price is one fork/exec and one
// overlay mount per operation, a few milliseconds, small next to a
// provisioner.
//
// Because the binary re-executes itself, main (and TestMain of any package
// whose tests launch machines) must call Init first: in the helper it never
// returns.
//
// # What the helper does
//
// It makes "/" recursively private (so that nothing propagates back to the
// host), names the machine "pipe-build" in its UTS namespace, takes an
// exclusive lock on the work directory (one operation per machine at a
// time, across processes), mounts the overlay, and makes it the root of the
// mount namespace as runc does: pivot_root, then the host's root is
// detached. From then on every path is resolved by the kernel inside the
// tree: a symlink /etc -> / or /proc -> /etc planted in an image points into
// the image, never at the host, and not even the chroot escape
// (chroot("sub"), then ".." past the root) leads out, as the host's root is
// no longer in the namespace. (Where pivot_root is impossible, a root on
// initramfs, the helper chroots instead and commands lose CAP_SYS_CHROOT.)
// For Run it then mounts /proc, /sys, /dev and /etc/resolv.conf, installs
// Debian's policy-rc.d (so that package installs do not start services),
// runs /bin/sh -c, kills whatever the command left running, and removes
// every mount point and file it had to create, so that the upper
// directory, and thus the layer, holds only what the command changed.
//
// # What a command can reach
//
// A build command runs as root, but cannot change the host's kernel state,
// as in a Docker build container:
//
//   - /proc belongs to the machine's PID namespace; /proc/sys,
//     /proc/sysrq-trigger, /proc/irq, /proc/bus and /proc/fs are read-only
//     binds, and /proc/kcore, /proc/keys, /proc/timer_list and the like are
//     masked (runc's defaults). /sys is mounted read-only, with
//     /sys/firmware masked;
//   - the hostname (fixed, for reproducible builds) and System V IPC are
//     the machine's own;
//   - the command starts with Docker's default capabilities only (chown,
//     dac_override, fowner, fsetid, kill, setgid, setuid, setpcap,
//     net_bind_service, net_raw, sys_chroot, mknod, audit_write, setfcap):
//     bounding, permitted, effective and inheritable sets, and no ambient
//     ones. It can install packages, chown, set setuid bits and file
//     capabilities, but cannot mount, undo the read-only binds, load
//     modules or write kernel parameters. no_new_privs is not set, so su
//     and sudo work. The helper drops the other capabilities only on the
//     thread that forks the command, and keeps its own to clean up;
//   - /dev is a nodev tmpfs holding binds of a few host devices: a device
//     node the command makes (CAP_MKNOD, for FIFOs) cannot be opened, nor
//     can one in the overlay, mounted nodev.
//
// The network namespace is the host's, on purpose: builds download
// packages, and the host's resolv.conf is bound read-only for that.
//
// A helper killed in the middle of a Run (pipe killed, context cancelled)
// cannot remove the mount points it created; they stay in the upper
// directory of a stage that failed anyway, whose changes are discarded.
//
// Requests reach the helper as JSON on fd 3; the result comes back as JSON
// on fd 4, so that the command's own stdout and stderr stay untouched.
package machine
