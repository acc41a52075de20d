package ssh_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pipebuild/pipe/stages"
)

func TestRun(t *testing.T) {
	comm, _ := connect(t)
	for _, tc := range []struct {
		name           string
		cmd            stages.Cmd
		status         int
		stdout, stderr string
	}{
		{name: "exit 0", cmd: stages.Cmd{Command: "true"}},
		{name: "exit 3", cmd: stages.Cmd{Command: "exit 3"}, status: 3},
		{name: "killed", cmd: stages.Cmd{Command: "kill -KILL $$"}, status: 128 + 9},
		{name: "streams apart", cmd: stages.Cmd{Command: "echo out; echo err >&2; echo out2"},
			stdout: "out\nout2\n", stderr: "err\n"},
		{name: "env quoting", cmd: stages.Cmd{
			Command: `printf '%s|' "$A" "$B" "$C" "$D"`,
			Env:     []string{"A=two words", `B=it's "quoted"`, "C=$HOME `id` \\n", "D=a=b"}},
			stdout: "two words|it's \"quoted\"|$HOME `id` \\n|a=b|"},
		{name: "stdin", cmd: stages.Cmd{Command: "tr a-z A-Z", Stdin: strings.NewReader("hello\n")},
			stdout: "HELLO\n"},
		{name: "no stdin is empty", cmd: stages.Cmd{Command: "wc -c"}, stdout: "0\n"},
		{name: "runs under sh", cmd: stages.Cmd{Command: `readlink /proc/$$/exe`}, stdout: mustSh(t)},
		{name: "login user needs no sudo", cmd: stages.Cmd{Command: "id -un", User: "root"}, stdout: "root\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, stdout, stderr := run(t, comm, &tc.cmd)
			got := []any{status, stdout, stderr}
			want := []any{tc.status, tc.stdout, tc.stderr}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("status, stdout, stderr (-want +got):\n%s", d)
			}
		})
	}
}

// mustSh is what /bin/sh resolves to, with a newline.
func mustSh(t *testing.T) string {
	out, err := exec.Command("readlink", "-f", "/bin/sh").Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestRunBadEnv(t *testing.T) {
	comm, _ := connect(t)
	_, err := comm.Run(context.Background(), &stages.Cmd{Command: "true", Env: []string{"A B=1"}})
	if err == nil || !strings.Contains(err.Error(), `"A B=1"`) {
		t.Fatalf("err = %v, want one naming the variable", err)
	}
}

func TestRunConcurrent(t *testing.T) {
	comm, _ := connect(t)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			var out strings.Builder
			status, err := comm.Run(context.Background(), &stages.Cmd{
				Command: fmt.Sprintf("echo %d; exit %d", i, i), Stdout: &out})
			if err != nil || status != i || out.String() != fmt.Sprintf("%d\n", i) {
				t.Errorf("run %d: status %d, out %q, err %v", i, status, out.String(), err)
			}
		})
	}
	wg.Wait()
}

// TestRunCancel checks that cancelling kills the command's children, not
// only its shell.
func TestRunCancel(t *testing.T) {
	comm, _ := connect(t)
	// A unique duration names the process for pgrep.
	arg := fmt.Sprintf("60.%09d", rand.IntN(1e9))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := comm.Run(ctx, &stages.Cmd{Command: "sleep " + arg + "; echo done"})
		errc <- err
	}()
	waitPgrep(t, arg, true)
	cancel()
	if err := <-errc; err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("Run after cancel: err = %v, want context canceled", err)
	}
	waitPgrep(t, arg, false)
}

// waitPgrep waits until a process with arg in its command line exists or
// not. The bound is generous: it only keeps a broken test from hanging.
func waitPgrep(t *testing.T, arg string, exists bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		err := exec.Command("pgrep", "-f", "sleep "+arg).Run()
		if (err == nil) == exists {
			return
		}
	}
	t.Fatalf("process 'sleep %s' exists = %v, want %v", arg, !exists, exists)
}

// TestRunConnectionDropped kills the connection's sshd process from inside
// the command, as a reboot would.
func TestRunConnectionDropped(t *testing.T) {
	comm, _ := connect(t)
	// The command's parent is the wrapper sh, whose parent is the session's
	// sshd.
	cmd := `kill -KILL $(sed -n 's/^PPid:[[:space:]]*//p' /proc/$PPID/status); sleep 10`
	_, err := comm.Run(context.Background(), &stages.Cmd{Command: cmd})
	if err == nil || !strings.Contains(err.Error(), "connection dropped") {
		t.Fatalf("err = %v, want connection dropped", err)
	}
}

// TestRunOneWriter passes one writer that is not safe for concurrent use as
// both stdout and stderr, as provisioners do with their log.
func TestRunOneWriter(t *testing.T) {
	comm, _ := connect(t)
	for range 20 {
		var out bytes.Buffer
		status, err := comm.Run(context.Background(), &stages.Cmd{
			Command: "echo out; sleep 0.01; echo err >&2", Stdout: &out, Stderr: &out})
		if err != nil || status != 0 || out.String() != "out\nerr\n" {
			t.Fatalf("Run: %d, %q, %v; want both lines", status, out.String(), err)
		}
	}
}
