package null_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipebuild/pipe/stages"
)

func TestUploadStaysInsideRoot(t *testing.T) {
	m, _, _ := launch(t, t.TempDir(), nil, "")
	root := hostDir(t, m)
	outside := t.TempDir()
	// Links a provisioner could plant to escape: to the host's / and to a
	// writable host directory.
	os.Symlink("/", filepath.Join(root, "etc"))
	os.Symlink(outside, filepath.Join(root, "out"))
	os.Symlink(filepath.Join(outside, "f"), filepath.Join(root, "f"))
	name := "pipe-test-" + strconv.Itoa(os.Getpid())
	comm := m.Communicator()
	ctx := context.Background()

	for _, p := range []string{"/etc/" + name, "/out/x", "/f", "/../../out/y"} {
		if err := comm.Upload(ctx, p, strings.NewReader("data"), 0o644); err != nil {
			// Refusing is as good as staying inside; only escaping fails.
			t.Logf("Upload(%s): %v", p, err)
		}
	}
	if _, err := os.Lstat(filepath.Join("/etc", name)); !os.IsNotExist(err) {
		t.Errorf("Upload wrote host /etc/%s (lstat err %v)", name, err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("Upload wrote into the host dir a link pointed at: %v", entries)
	}
	// etc -> / resolves to the root itself.
	if _, err := os.Stat(filepath.Join(root, name)); err != nil {
		t.Errorf("upload through etc -> / did not land in the root: %v", err)
	}
}

func TestRun(t *testing.T) {
	m, _, _ := launch(t, t.TempDir(), nil, "")
	comm := m.Communicator()
	var out bytes.Buffer
	status, err := comm.Run(context.Background(), &stages.Cmd{
		Command: `pwd; echo "$GREETING"; exit 7`,
		Env:     []string{"GREETING=hi there"},
		Stdout:  &out,
	})
	if err != nil || status != 7 {
		t.Fatalf("Run = %d, %v; want 7, nil", status, err)
	}
	root, _ := filepath.EvalSymlinks(hostDir(t, m))
	if want := root + "\nhi there\n"; out.String() != want {
		t.Errorf("output = %q, want %q", out.String(), want)
	}
}

func TestRunCancelKillsProcessGroup(t *testing.T) {
	m, _, _ := launch(t, t.TempDir(), nil, "")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once the background sleep has written its pid.
		for ctx.Err() == nil {
			if b, _ := os.ReadFile(filepath.Join(hostDir(t, m), "pid")); len(b) > 0 {
				cancel()
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	_, err := m.Communicator().Run(ctx, &stages.Cmd{Command: "sleep 60 & echo $! > pid; wait"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run err = %v, want context.Canceled", err)
	}
	b, _ := os.ReadFile(filepath.Join(hostDir(t, m), "pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitGone(t, pid)
}

// waitGone fails unless pid exits (or is left a zombie) soon; the kill is
// asynchronous, so it polls rather than asserting on the spot.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatal("no pid recorded")
	}
	for range 200 {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return
		}
		if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("process %d still running", pid)
}

func TestDownload(t *testing.T) {
	m, _, _ := launch(t, t.TempDir(), nil, "")
	root := hostDir(t, m)
	writeTree(t, root, map[string]string{"etc/hostname": "box\n", "esc": "-> /etc/hostname"})
	var got bytes.Buffer
	if err := m.Communicator().Download(context.Background(), "/etc/hostname", &got); err != nil {
		t.Fatal(err)
	}
	if got.String() != "box\n" {
		t.Errorf("Download = %q", got.String())
	}
	// An absolute link is resolved inside the root too.
	got.Reset()
	if err := m.Communicator().Download(context.Background(), "/esc", &got); err != nil || got.String() != "box\n" {
		t.Errorf("Download(/esc) = %q, %v; want the root's /etc/hostname", got.String(), err)
	}
}
