package machine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pipebuild/pipe/stages"
)

// After every Run, whatever its end, no mount and no process of the
// command may be left on the host. newMachine's cleanup checks the mount
// table once more at the end.
func TestRunLeavesNothingRunning(t *testing.T) {
	r, c := newMachine(t)
	for _, tc := range []struct {
		name, cmd, user string
		status          int
		wantErr         bool
	}{
		// ps proves the sleep was running when the command ended.
		{name: "success", cmd: "sleep 1001.5 & sleep 0.2; ps | grep -q '[1]001.5'"},
		{name: "failure", cmd: "sleep 1001.5 & sleep 0.2; ps | grep -q '[1]001.5' && exit 7", status: 7},
		{name: "daemon", cmd: "(sleep 1001.5 </dev/null >/dev/null 2>&1 &); sleep 0.2; ps | grep -q '[1]001.5'"},
		{name: "refused", cmd: "sleep 1001.5 &", user: "nosuch", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, err := c.Run(t.Context(), &stages.Cmd{Command: tc.cmd, User: tc.user})
			if (err != nil) != tc.wantErr || (err == nil && status != tc.status) {
				t.Fatalf("Run: status %d, err %v; want status %d, error %v", status, err, tc.status, tc.wantErr)
			}
			if pids := processesWith(t, "1001.5"); len(pids) > 0 {
				t.Errorf("processes left running: %v", pids)
			}
			assertNoMount(t, r.Merged)
		})
	}
}

// Cancelling the context mid-command kills the helper, and with it the
// command, its children and the mounts; while it runs, the host's mount
// table never shows the machine.
func TestRunCancel(t *testing.T) {
	r, c := newMachine(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out bytes.Buffer
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := c.Run(ctx, &stages.Cmd{Command: "sleep 1002.5 & echo up; sleep 30.25", Stdout: &out})
		done <- err
	}()
	waitFor(t, func() bool { return len(processesWith(t, "30.25")) > 0 })
	assertNoMount(t, r.Merged)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run after cancel: err = %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if d := time.Since(start); d > 25*time.Second {
		t.Errorf("Run took %v: the sleep was not killed", d)
	}
	for _, arg := range []string{"1002.5", "30.25"} {
		if pids := processesWith(t, arg); len(pids) > 0 {
			t.Errorf("processes with %s left running: %v", arg, pids)
		}
	}
	if !strings.Contains(out.String(), "up") {
		t.Errorf("stdout = %q, want the command's output", out.String())
	}
}

// Transfers leave nothing mounted either, whether they work or fail.
func TestTransfersLeaveNoMount(t *testing.T) {
	r, c := newMachine(t)
	ctx := t.Context()
	if err := c.Upload(ctx, "/f", strings.NewReader("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Upload(ctx, "/no/such/dir/f", strings.NewReader("x"), 0o644); err == nil {
		t.Error("Upload into a missing directory worked")
	}
	if err := c.Download(ctx, "/missing", &bytes.Buffer{}); err == nil {
		t.Error("Download of a missing file worked")
	}
	assertNoMount(t, r.Merged)
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("condition not met within 10s")
}

// Operations on one machine from several goroutines take turns (two
// overlays on one upper directory would be undefined behaviour).
func TestRunConcurrent(t *testing.T) {
	r, c := newMachine(t)
	errs := make(chan error, 4)
	for i := range 4 {
		go func() {
			_, err := c.Run(t.Context(), &stages.Cmd{Command: fmt.Sprintf("echo %d >> /log; sleep 0.1", i)})
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := mustRun(t, c, "wc -l < /log"); strings.TrimSpace(got) != "4" {
		t.Errorf("/log has %s lines, want 4", got)
	}
	assertNoMount(t, r.Merged)
}
