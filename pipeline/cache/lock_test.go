package cache

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lockHelperEnv makes the test binary act as a second process holding a
// lock; see TestLockHelperProcess.
const lockHelperEnv = "PIPE_CACHE_TEST_LOCK_HELPER"

// TestLockGoroutines has many goroutines build "the same key" under the
// lock: at most one may be inside at a time, and all must get in.
func TestLockGoroutines(t *testing.T) {
	s, _ := openStore(t)
	var inside, peak, done atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			unlock, err := s.Lock(t.Context(), "p", "app@local")
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			if n > peak.Load() {
				peak.Store(n)
			}
			time.Sleep(10 * time.Millisecond)
			inside.Add(-1)
			done.Add(1)
			unlock()
			unlock() // idempotent
		})
	}
	wg.Wait()
	if peak.Load() != 1 || done.Load() != 8 {
		t.Errorf("%d holders at once (want 1), %d of 8 done", peak.Load(), done.Load())
	}
	// Other nodes have their own locks.
	unlock, err := s.Lock(t.Context(), "p", "app@local")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	other, err := s.Lock(ctx, "p", "base@local")
	if err != nil {
		t.Fatalf("locking another node: %v", err)
	}
	other()
}

func TestLockHonoursContext(t *testing.T) {
	s, _ := openStore(t)
	unlock, err := s.Lock(t.Context(), "p", "n")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.Lock(ctx, "p", "n")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock of a held lock: err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Lock took %v to notice the deadline", d)
	}
	if _, err := s.Lock(t.Context(), "p", "a/../../n"); err == nil {
		t.Error("Lock accepted a node name with a path")
	}
}

// TestLockSubprocess checks the lock across processes, as two `pipe run`
// sharing a store would take it: the test binary is re-run as a helper that
// holds the lock until its stdin is closed.
func TestLockSubprocess(t *testing.T) {
	s, _ := openStore(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+s.Dir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v; want locked", line, err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(ctx, "p", "app@local"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while the helper holds it: err = %v, want DeadlineExceeded", err)
	}

	got := make(chan error, 1)
	go func() {
		unlock, err := s.Lock(t.Context(), "p", "app@local")
		if err == nil {
			unlock()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("Lock returned (%v) while the helper holds the lock", err)
	case <-time.After(200 * time.Millisecond):
	}
	stdin.Close() // the helper unlocks and exits
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Lock still waiting after the helper released it")
	}
}

// TestLockHelperProcess is not a test: run by TestLockSubprocess, it takes
// the lock, says so, and holds it until its stdin closes.
func TestLockHelperProcess(t *testing.T) {
	dir := os.Getenv(lockHelperEnv)
	if dir == "" {
		t.Skip("helper process for TestLockSubprocess")
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := s.Lock(context.Background(), "p", "app@local")
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("locked\n")
	io.Copy(io.Discard, os.Stdin)
	unlock()
	os.Exit(0)
}
