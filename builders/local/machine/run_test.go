package machine_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pipebuild/pipe/stages"
)

func TestRunWritesToUpper(t *testing.T) {
	r, c := newMachine(t)
	mustRun(t, c, "echo hi > /x")
	got, err := os.ReadFile(filepath.Join(r.Upper, "x"))
	if err != nil || string(got) != "hi\n" {
		t.Fatalf("upper/x = %q, %v; want \"hi\\n\"", got, err)
	}
}

func TestRunDeletionIsWhiteout(t *testing.T) {
	r, c := newMachine(t)
	mustRun(t, c, "rm /etc/motd")
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(r.Upper, "etc/motd"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFCHR || st.Rdev != 0 {
		t.Errorf("upper/etc/motd: mode %o rdev %d, want a 0/0 character device", st.Mode, st.Rdev)
	}
	if _, err := os.Stat(filepath.Join(r.Lower[0], "etc/motd")); err != nil {
		t.Errorf("lower changed: %v", err)
	}
}

func TestRunExitStatus(t *testing.T) {
	_, c := newMachine(t)
	for cmd, want := range map[string]int{"true": 0, "exit 3": 3, "kill -9 $$": 137} {
		if got, _ := run(t, c, &stages.Cmd{Command: cmd}); got != want {
			t.Errorf("Run(%q) = %d, want %d", cmd, got, want)
		}
	}
}

func TestRunEnv(t *testing.T) {
	t.Setenv("PIPE_HOST_ONLY", "secret")
	_, c := newMachine(t)
	_, out := run(t, c, &stages.Cmd{Command: "env", Env: []string{"FOO=bar baz", "LANG=C"}})
	vars := strings.Split(strings.TrimSpace(out), "\n")
	for _, want := range []string{"FOO=bar baz", "LANG=C", "HOME=/root", "DEBIAN_FRONTEND=noninteractive",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"} {
		if !slices.Contains(vars, want) {
			t.Errorf("env lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "PIPE_HOST_ONLY") || strings.Contains(out, "LANG=C.UTF-8") {
		t.Errorf("env has a host variable or a replaced default:\n%s", out)
	}
}

func TestRunUser(t *testing.T) {
	_, c := newMachine(t)
	for user, want := range map[string]string{
		"":              "0 0 0",
		"nobody":        "65534 65534 65534 50",
		"nobody:root":   "65534 0 0 50",
		"1234":          "1234 0 0",
		"1234:4321":     "1234 4321 4321",
		"65534:nogroup": "65534 65534 65534 50",
	} {
		_, out := run(t, c, &stages.Cmd{Command: "echo $(id -u) $(id -g) $(id -G)", User: user})
		if got := strings.TrimSpace(out); got != want {
			t.Errorf("User %q: uid gid groups = %q, want %q", user, got, want)
		}
	}
	if _, err := c.Run(t.Context(), &stages.Cmd{Command: "true", User: "nosuch"}); err == nil ||
		!strings.Contains(err.Error(), `user "nosuch" not found`) {
		t.Errorf("Run as an unknown user: err = %v", err)
	}
}

func TestRunMachineView(t *testing.T) {
	_, c := newMachine(t)
	host, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		t.Skip("host has no /etc/resolv.conf")
	}
	for _, cmd := range []string{
		"test -e /proc/self/status",
		// A PID namespace of its own: the helper is PID 1, no host process shows.
		"grep -q pipe-machine-helper /proc/1/cmdline && test $(ls /proc | grep -c '^[0-9]') -lt 10",
		"echo x > /dev/null && test -c /dev/urandom && test -L /dev/fd",
		"test -d /dev/pts && test -d /dev/shm && test -d /sys/kernel",
		"grep -q '^sysfs /sys sysfs ro,' /proc/mounts",
		"test -x /usr/sbin/policy-rc.d && ! /usr/sbin/policy-rc.d",
		"test -d /tmp && test -k /tmp",
		"! echo nameserver 127.0.0.1 > /etc/resolv.conf", // read-only: the host's is safe
		"test ! -e /dev/vda && test ! -e /dev/mem",
	} {
		if status, out := run(t, c, &stages.Cmd{Command: cmd}); status != 0 {
			t.Errorf("Run(%q) = %d; output: %s", cmd, status, out)
		}
	}
	if got := mustRun(t, c, "cat /etc/resolv.conf"); got != string(host) {
		t.Errorf("machine's resolv.conf = %q, want the host's %q", got, host)
	}
}

// A Run must leave in the upper directory only what the command changed:
// no mount points, no policy-rc.d, no /tmp. /etc is copied up, with its
// metadata unchanged, when resolv.conf's mount point is created in it.
func TestRunLeavesOnlyChanges(t *testing.T) {
	r, c := newMachine(t)
	mustRun(t, c, "test -x /usr/sbin/policy-rc.d && touch /made")
	if diff := cmp.Diff([]string{"etc", "made"}, upperEntries(t, r.Upper)); diff != "" {
		t.Errorf("upper entries (-want +got):\n%s", diff)
	}
}

// A policy-rc.d or mount point the image already has is the image's: it
// is neither removed nor rewritten.
func TestRunKeepsImageFiles(t *testing.T) {
	img := t.TempDir()
	write(t, filepath.Join(img, "usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 0\n", 0o755)
	write(t, filepath.Join(img, "etc/resolv.conf"), "# image\n", 0o644)
	for _, d := range []string{"proc", "sys", "dev", "tmp"} {
		if err := os.Mkdir(filepath.Join(img, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r, c := newMachine(t, img)
	mustRun(t, c, "/usr/sbin/policy-rc.d")
	if got := upperEntries(t, r.Upper); len(got) != 0 {
		t.Errorf("upper has %q, want nothing", got)
	}
	if got, _ := os.ReadFile(filepath.Join(img, "usr/sbin/policy-rc.d")); string(got) != "#!/bin/sh\nexit 0\n" {
		t.Errorf("image's policy-rc.d changed: %q", got)
	}
}

// A planted /proc -> /etc symlink must not send a mount anywhere: the Run
// is refused, and nothing is left behind.
func TestRunSymlinkedMountPoint(t *testing.T) {
	img := t.TempDir()
	if err := os.Symlink("/etc", filepath.Join(img, "proc")); err != nil {
		t.Fatal(err)
	}
	r, c := newMachine(t, img)
	_, err := c.Run(t.Context(), &stages.Cmd{Command: "true"})
	if err == nil || !strings.Contains(err.Error(), "/proc is a symlink") {
		t.Fatalf("Run with /proc -> /etc: err = %v, want a refusal", err)
	}
	assertNoMount(t, "/etc")
	if got := upperEntries(t, r.Upper); len(got) != 0 {
		t.Errorf("upper has %q, want nothing", got)
	}
}

// A dangling resolv.conf symlink, as systemd-resolved images have, is
// followed inside the tree: the host's file shows through it, and the
// directories made for it go away again.
func TestRunDanglingResolvConf(t *testing.T) {
	img := t.TempDir()
	if err := os.MkdirAll(filepath.Join(img, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../run/systemd/resolve/stub-resolv.conf", filepath.Join(img, "etc/resolv.conf")); err != nil {
		t.Fatal(err)
	}
	host := filepath.Join(t.TempDir(), "resolv.conf")
	write(t, host, "nameserver 192.0.2.1\n", 0o644)
	r, _ := newMachine(t, img)
	r.ResolvConf = host
	if got := mustRun(t, r.Communicator(), "cat /etc/resolv.conf"); got != "nameserver 192.0.2.1\n" {
		t.Errorf("resolv.conf = %q", got)
	}
	if got := upperEntries(t, r.Upper); len(got) != 0 {
		t.Errorf("upper has %q, want nothing", got)
	}
}
