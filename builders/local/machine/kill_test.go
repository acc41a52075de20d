package machine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pipebuild/pipe/builders/local/machine"
	"github.com/pipebuild/pipe/stages"
)

// orphanEnv makes the test binary play pipe in TestPipeKilled: it runs a
// long command in the machine described by the variable's JSON value.
const orphanEnv = "PIPE_MACHINE_TEST_ORPHAN"

func runOrphan(rootJSON string) int {
	var r machine.Root
	if err := json.Unmarshal([]byte(rootJSON), &r); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	_, err := r.Communicator().Run(context.Background(), &stages.Cmd{Command: "sleep 1003.5 & sleep 1004.5"})
	fmt.Fprintln(os.Stderr, "Run returned:", err)
	return 1
}

// When pipe itself is killed with SIGKILL, no cleanup code of pipe's runs;
// the command and the mounts must go all the same.
func TestPipeKilled(t *testing.T) {
	r, _ := newMachine(t)
	rootJSON, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	pipe := exec.Command("/proc/self/exe")
	pipe.Env = append(os.Environ(), orphanEnv+"="+string(rootJSON))
	pipe.Stderr = os.Stderr
	if err := pipe.Start(); err != nil {
		t.Fatal(err)
	}
	defer pipe.Process.Kill()
	waitFor(t, func() bool { return len(processesWith(t, "1004.5")) > 0 })
	if err := pipe.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = pipe.Wait()
	// Pdeathsig and the PID namespace's end are asynchronous to the wait.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && len(processesWith(t, "1003.5"))+len(processesWith(t, "1004.5")) > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	for _, arg := range []string{"1003.5", "1004.5"} {
		if pids := processesWith(t, arg); len(pids) > 0 {
			t.Errorf("processes with %s outlived pipe: %v", arg, pids)
		}
	}
	assertNoMount(t, r.Merged)
}

// More lower layers than fit in the kernel's option page are named
// relative to their common parent.
func TestManyLayers(t *testing.T) {
	requireMachines(t)
	parent := t.TempDir()
	var lowers []string
	// 45 digest-named layers: too long as absolute paths, short enough
	// relative to their parent. (Docker caps images at 127 layers for the
	// same page.)
	for i := range 45 {
		dir := filepath.Join(parent, fmt.Sprintf("sha256-%064x", i))
		write(t, filepath.Join(dir, fmt.Sprintf("f%03d", i)), "x", 0o644)
		lowers = append(lowers, dir)
	}
	_, c := newMachine(t, lowers...)
	if got := mustRun(t, c, "ls / | grep -c '^f'"); got != "45\n" {
		t.Errorf("machine sees %q files from the layers, want 45", got)
	}
}
