package machine_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pipebuild/pipe/stages"
)

// A command must not change the host's kernel state: /proc/sys and the
// sysrq trigger are read-only, kernel-wide files are masked, the hostname
// is the machine's own, and no capability lets it undo any of this.
func TestRunCannotChangeHostKernel(t *testing.T) {
	_, c := newMachine(t)
	swappiness, err := os.ReadFile("/proc/sys/vm/swappiness")
	if err != nil {
		t.Fatal(err)
	}
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	// Should the machine reach the host after all, the host is put back
	// however the test ends.
	t.Cleanup(func() {
		if got, _ := os.ReadFile("/proc/sys/vm/swappiness"); string(got) != string(swappiness) {
			t.Errorf("host's vm.swappiness changed from %q to %q", swappiness, got)
			_ = os.WriteFile("/proc/sys/vm/swappiness", swappiness, 0)
		}
		if got, _ := os.Hostname(); got != hostname {
			t.Errorf("host's hostname changed from %q to %q", hostname, got)
			_ = syscall.Sethostname([]byte(hostname))
		}
	})
	other := "61"
	if strings.TrimSpace(string(swappiness)) == other {
		other = "59"
	}
	for _, cmd := range []string{
		"echo " + other + " > /proc/sys/vm/swappiness",
		"hostname x",
		"mount -o remount,rw /proc/sys",
		"umount -l /proc/sys",
		"mount -t proc proc /tmp",
		"mount -o remount,rw /sys",
	} {
		var out strings.Builder
		status, err := c.Run(t.Context(), &stages.Cmd{Command: cmd, Stdout: &out, Stderr: &out})
		if err != nil || status == 0 {
			t.Errorf("Run(%q) = %d, %v; want a failure of the command; output: %s", cmd, status, err, out.String())
		}
	}
	for _, cmd := range []string{
		"test $(hostname) = pipe-build",
		"test \"$(cat /proc/sys/vm/swappiness)\" = " + strings.TrimSpace(string(swappiness)),
		// Opening for writing fails on a read-only mount (busybox's test -w
		// says yes to root whatever the mount); nothing is written. The
		// subshell survives a failed redirection of the special builtin.
		"! (: > /proc/sys/kernel/core_pattern) && ! (: > /proc/sys/vm/swappiness)",
		"test ! -e /proc/sysrq-trigger || ! (: > /proc/sysrq-trigger)",
		"grep -q '^proc /proc/sys proc ro,' /proc/mounts",
		"test ! -e /proc/sysrq-trigger || grep -q '^proc /proc/sysrq-trigger proc ro,' /proc/mounts",
		"grep -q '^sysfs /sys sysfs ro,' /proc/mounts",
		// Masked files read as empty, masked directories are empty.
		"for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do " +
			"test ! -e $f || test -z \"$(head -c 1 $f)\" || { echo $f; exit 1; }; done",
		"for d in /proc/acpi /proc/scsi /sys/firmware; do test ! -e $d || test -z \"$(ls $d)\" || { echo $d; exit 1; }; done",
	} {
		if status, out := run(t, c, &stages.Cmd{Command: cmd + " 2>&1"}); status != 0 {
			t.Errorf("Run(%q) = %d; output: %s", cmd, status, out)
		}
	}
}

// The command keeps Docker's default capabilities, and no more, whoever it
// runs as.
func TestRunCapabilities(t *testing.T) {
	_, c := newMachine(t)
	const docker = "00000000a80425fb"
	for user, want := range map[string]string{
		"":       "CapInh:0000000000000000 CapPrm:" + docker + " CapEff:" + docker + " CapBnd:" + docker + " CapAmb:0000000000000000",
		"nobody": "CapInh:0000000000000000 CapPrm:0000000000000000 CapEff:0000000000000000 CapBnd:" + docker + " CapAmb:0000000000000000",
	} {
		_, out := run(t, c, &stages.Cmd{Command: "grep ^Cap /proc/self/status | tr -d '\\t'", User: user})
		if got := strings.Join(strings.Fields(out), " "); got != want {
			t.Errorf("User %q: capabilities\n%s\nwant %s", user, out, want)
		}
	}
}

// What package installs do still works: chown, setuid bits, FIFOs. A
// device node can be made, but not opened.
func TestRunPackageOperations(t *testing.T) {
	r, c := newMachine(t)
	for _, cmd := range []string{
		"touch /f && chown 65534:50 /f && chmod 4754 /f && test \"$(stat -c '%u %g %A' /f)\" = '65534 50 -rwsr-xr--'",
		"mkfifo /fifo && test -p /fifo && mknod /fifo2 p && test -p /fifo2",
		"mkdir -p /home/nobody && chown nobody:nogroup /home/nobody && test $(stat -c %U /home/nobody) = nobody",
		"mknod /tmp/null c 1 3 && ! echo x 2>/dev/null > /tmp/null",
		"mknod /dev/null2 c 1 3 && ! echo x 2>/dev/null > /dev/null2",
		"echo 'x:x:1000:1000::/home/x:/bin/sh' >> /etc/passwd && test \"$(id -u x)\" = 1000",
	} {
		if status, out := run(t, c, &stages.Cmd{Command: cmd + " 2>&1"}); status != 0 {
			t.Errorf("Run(%q) = %d; output: %s", cmd, status, out)
		}
	}
	if fi, err := os.Stat(filepath.Join(r.Upper, "f")); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("upper/f: %v, %v; want a setuid file", fi, err)
	}
}

// The machine has UTS and IPC namespaces of its own, but the host's
// network, which builds need to download packages.
func TestRunNamespaces(t *testing.T) {
	_, c := newMachine(t)
	for ns, shared := range map[string]bool{"uts": false, "ipc": false, "mnt": false, "pid": false, "net": true} {
		host, err := os.Readlink("/proc/self/ns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.TrimSpace(mustRun(t, c, "readlink /proc/self/ns/"+ns))
		if (got == host) != shared {
			t.Errorf("namespace %s: machine %s, host %s; want shared %v", ns, got, host, shared)
		}
	}
}

// The classic chroot escape (chroot into a subdirectory, walk up with
// "..", chroot there) must not reach the host: the machine's tree is the
// root of its mount namespace, not merely of the command.
func TestRunChrootEscape(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command to build a static test program")
	}
	img := t.TempDir()
	build := exec.Command(goTool, "build", "-o", filepath.Join(img, "escape"), "./testdata/escape")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build escape: %v\n%s", err, out)
	}
	marker := filepath.Join(t.TempDir(), "host-marker")
	write(t, marker, "host\n", 0o644)
	_, c := newMachine(t, img)
	status, out := run(t, c, &stages.Cmd{Command: "/escape " + marker + " 2>&1"})
	// "chroot refused" is safe too: a helper that could not pivot_root
	// takes CAP_SYS_CHROOT away.
	if status != 0 || !strings.Contains(out, "contained") && !strings.Contains(out, "chroot refused") {
		t.Errorf("chroot escape: status %d, output %q; want contained", status, out)
	}
}
