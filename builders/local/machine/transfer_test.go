package machine_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestUploadDownload(t *testing.T) {
	r, c := newMachine(t)
	ctx := t.Context()
	if err := c.Upload(ctx, "/etc/app.conf", strings.NewReader("key=value\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(r.Upper, "etc/app.conf"))
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("upper/etc/app.conf: %v, %v; want mode 0640", fi, err)
	}
	var got bytes.Buffer
	if err := c.Download(ctx, "/etc/app.conf", &got); err != nil {
		t.Fatal(err)
	}
	if got.String() != "key=value\n" {
		t.Errorf("Download = %q", got.String())
	}
	// A file from a lower layer downloads too.
	got.Reset()
	if err := c.Download(ctx, "/etc/motd", &got); err != nil || got.String() != "welcome\n" {
		t.Errorf("Download(/etc/motd) = %q, %v", got.String(), err)
	}
	if err := c.Download(ctx, "/missing", &got); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Download(/missing): err = %v, want fs.ErrNotExist", err)
	}
	if err := c.Upload(ctx, "/no/dir/f", strings.NewReader(""), 0o644); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Upload into a missing directory: err = %v, want fs.ErrNotExist", err)
	}
}

// hostTree makes a host directory "src" with a file, an executable, a
// symlink and a subdirectory, and returns its path.
func hostTree(t *testing.T) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	write(t, filepath.Join(src, "a.txt"), "a\n", 0o644)
	write(t, filepath.Join(src, "sub/run.sh"), "#!/bin/sh\n", 0o755)
	if err := os.Symlink("a.txt", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	return src
}

func TestUploadDir(t *testing.T) {
	for _, tc := range []struct {
		name, suffix, prefix string
	}{
		{"itself", "", "opt/src/"},
		{"contents", "/", "opt/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, c := newMachine(t)
			// The receiving directory is created, but not its parents.
			mustRun(t, c, "mkdir /opt")
			if err := c.UploadDir(t.Context(), "/opt", hostTree(t)+tc.suffix); err != nil {
				t.Fatal(err)
			}
			out := mustRun(t, c, "cd /"+tc.prefix+" && cat a.txt link && test -x sub/run.sh && readlink link")
			if out != "a\na\na.txt\n" {
				t.Errorf("machine sees %q", out)
			}
			fi, err := os.Lstat(filepath.Join(r.Upper, tc.prefix, "sub/run.sh"))
			if err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("upper/%ssub/run.sh: %v, %v; want mode 0755", tc.prefix, fi, err)
			}
		})
	}
}

// escapeLower plants links that would reach the host if followed from
// outside the machine.
func escapeLower(t *testing.T) string {
	t.Helper()
	img := t.TempDir()
	for name, target := range map[string]string{
		"hostetc":    "/etc",
		"up":         "../../../../../../../..",
		"passwd":     "/etc/passwd",
		"hostproc":   "/proc/self/root/etc",
		"hostshadow": "../../../../../../../../etc/shadow",
	} {
		if err := os.Symlink(target, filepath.Join(img, name)); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// Planted symlinks resolve inside the machine: writes land in the upper
// directory or fail, reads see the machine's files, never the host's.
func TestTransfersStayInside(t *testing.T) {
	r, c := newMachine(t, escapeLower(t))
	ctx := t.Context()
	const name = "pipe-machine-escape-test"
	for _, p := range []string{"/hostetc/" + name, "/up/etc/" + name, "/../../etc/" + name} {
		if err := c.Upload(ctx, p, strings.NewReader("x"), 0o644); err != nil {
			t.Errorf("Upload(%s): %v", p, err)
		}
	}
	if err := c.UploadDir(ctx, "/up/etc", hostTree(t)); err != nil {
		t.Errorf("UploadDir(/up/etc): %v", err)
	}
	if _, err := os.Lstat("/etc/" + name); err == nil {
		os.Remove("/etc/" + name)
		t.Fatal("Upload wrote to the host's /etc")
	}
	if _, err := os.Lstat("/etc/src"); err == nil {
		t.Fatal("UploadDir wrote to the host's /etc")
	}
	if diff := cmp.Diff([]string{"etc", "etc/" + name, "etc/src", "etc/src/a.txt", "etc/src/link",
		"etc/src/sub", "etc/src/sub/run.sh"}, upperEntries(t, r.Upper)); diff != "" {
		t.Errorf("upper entries (-want +got):\n%s", diff)
	}
	// Writing through a symlink at the final component is refused.
	if err := c.Upload(ctx, "/passwd", strings.NewReader("evil"), 0o644); err == nil {
		t.Error("Upload through the symlink /passwd worked")
	}
	lower, _ := os.ReadFile(filepath.Join(r.Lower[1], "etc/passwd"))
	var got bytes.Buffer
	if err := c.Download(ctx, "/passwd", &got); err != nil || got.String() != string(lower) {
		t.Errorf("Download(/passwd) = %q, %v; want the machine's passwd", got.String(), err)
	}
	for _, p := range []string{"/hostshadow", "/up/etc/shadow", "/hostproc/shadow"} {
		if err := c.Download(ctx, p, &got); err == nil {
			t.Errorf("Download(%s) read a host file", p)
		}
	}
}

// A scratch machine (no lower layers) takes uploads, and a Run in it fails
// to start (there is no /bin/sh) without leaving anything behind.
func TestScratch(t *testing.T) {
	requireMachines(t)
	base := t.TempDir()
	r := newScratch(base)
	c := r.Communicator()
	if err := c.Upload(t.Context(), "/hello", strings.NewReader("hi"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(t.Context(), &stagesCmdTrue); err == nil || !strings.Contains(err.Error(), "/bin/sh") {
		t.Errorf("Run in scratch: err = %v, want one about /bin/sh", err)
	}
	if diff := cmp.Diff([]string{"hello"}, upperEntries(t, r.Upper)); diff != "" {
		t.Errorf("upper entries (-want +got):\n%s", diff)
	}
	assertNoMount(t, r.Merged)
}
