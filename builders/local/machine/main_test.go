package machine_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipebuild/pipe/builders/local/machine"
	"github.com/pipebuild/pipe/stages"
)

// TestMain lets the test binary serve as the machine helper.
func TestMain(m *testing.M) {
	machine.Init()
	if root := os.Getenv(orphanEnv); root != "" {
		os.Exit(runOrphan(root))
	}
	os.Exit(m.Run())
}

// applets are the busybox commands the test rootfs links.
var applets = []string{"sh", "ls", "cat", "echo", "mkdir", "rm", "sleep", "id", "touch",
	"chmod", "ps", "test", "env", "stat", "true", "false", "kill", "readlink", "wc", "grep",
	"hostname", "mount", "umount", "chown", "mkfifo", "mknod", "head", "tr"}

// requireMachines skips a test that needs root, overlayfs and busybox,
// unless PIPE_REQUIRE_INTEGRATION=1 makes their absence a failure.
func requireMachines(t *testing.T) {
	t.Helper()
	skip := t.Skip
	if os.Getenv("PIPE_REQUIRE_INTEGRATION") == "1" {
		skip = t.Fatal
	}
	if os.Geteuid() != 0 {
		skip("local machines need root")
	}
	if err := machine.Check(); err != nil {
		skip(err)
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		skip("local machine tests need /bin/busybox (apt-get install busybox-static)")
	}
}

// busyboxLower builds a lower layer: busybox and its applets, root and
// nobody in /etc/passwd, and /etc/motd to delete. It has no /proc, /dev,
// /sys, /tmp, /usr or /etc/resolv.conf, so every mount point must be
// created, and then removed.
func busyboxLower(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "bin/busybox"), string(bb), 0o755)
	for _, a := range applets {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(dir, "etc/passwd"),
		"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", 0o644)
	write(t, filepath.Join(dir, "etc/group"), "root:x:0:\nstaff:x:50:nobody\nnogroup:x:65534:\n", 0o644)
	write(t, filepath.Join(dir, "etc/motd"), "welcome\n", 0o644)
	return dir
}

// newMachine returns a machine over the busybox lower and extra lowers
// (top-most first, above busybox).
func newMachine(t *testing.T, extra ...string) (*machine.Root, stages.Communicator) {
	t.Helper()
	requireMachines(t)
	base := t.TempDir()
	r := &machine.Root{
		Lower:  append(extra, busyboxLower(t)),
		Upper:  filepath.Join(base, "upper"),
		Work:   filepath.Join(base, "work"),
		Merged: filepath.Join(base, "merged"),
	}
	t.Cleanup(func() { assertNoMount(t, r.Merged) })
	return r, r.Communicator()
}

// run runs command in the machine and returns its status and stdout.
func run(t *testing.T, c stages.Communicator, cmd *stages.Cmd) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	status, err := c.Run(context.Background(), cmd)
	if err != nil {
		t.Fatalf("Run(%q): %v (stderr: %s)", cmd.Command, err, errOut.String())
	}
	return status, out.String()
}

// mustRun runs command and fails the test unless it exits 0.
func mustRun(t *testing.T, c stages.Communicator, command string) string {
	t.Helper()
	status, out := run(t, c, &stages.Cmd{Command: command})
	if status != 0 {
		t.Fatalf("Run(%q) = %d, want 0; output: %s", command, status, out)
	}
	return out
}

// assertNoMount checks the host's mount table for anything at or under
// dir: machines must mount only in their helpers' namespaces.
func assertNoMount(t *testing.T, dir string) {
	t.Helper()
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(info), "\n") {
		if strings.Contains(line, dir) {
			t.Errorf("host mount table mentions %s: %s", dir, line)
		}
	}
}

// processesWith returns the pids of host processes whose command line
// contains arg.
func processesWith(t *testing.T, arg string) []string {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []string
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // gone meanwhile
		}
		if bytes.Contains(b, []byte(arg)) {
			pids = append(pids, filepath.Base(filepath.Dir(p)))
		}
	}
	return pids
}

// upperEntries lists the upper directory's paths, relative and sorted.
func upperEntries(t *testing.T, upper string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == upper {
			return err
		}
		rel, _ := filepath.Rel(upper, p)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func write(t *testing.T, p, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	requireMachines(t)
	if err := machine.Check(); err != nil {
		t.Fatalf("Check() = %v, want nil", err)
	}
}

var stagesCmdTrue = stages.Cmd{Command: "true"}

func newScratch(base string) *machine.Root {
	return &machine.Root{
		Upper:  filepath.Join(base, "upper"),
		Work:   filepath.Join(base, "work"),
		Merged: filepath.Join(base, "merged"),
	}
}
