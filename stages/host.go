package stages

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// hostWaitDelay bounds how long RunHost waits for the command's output pipes
// after the process group was killed: a daemon that escaped the group (setsid)
// may hold them open forever.
const hostWaitDelay = 5 * time.Second

// RunHost runs argv on the host with working directory dir, the host's
// environment plus cmd.Env, and cmd's streams, and returns its exit status
// (128+N for a command killed by signal N, as shells report it).
//
// The command runs in its own process group, and cancelling ctx kills the
// whole group: scripts start children (sleep, apt, daemons) that a kill of
// the shell alone would leave running. err is non-nil when the command could
// not be started or ctx ended first.
//
// Both shell-local and the null builder's communicator run host commands,
// so the one careful implementation lives here.
func RunHost(ctx context.Context, argv []string, dir string, cmd *Cmd) (int, error) {
	if len(argv) == 0 {
		return -1, errors.New("run: empty command")
	}
	if cmd.User != "" {
		return -1, fmt.Errorf("run %s: cannot run as user %q on the host", argv[0], cmd.User)
	}
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Dir = dir
	c.Env = append(os.Environ(), cmd.Env...)
	c.Stdin, c.Stdout, c.Stderr = cmd.Stdin, cmd.Stdout, cmd.Stderr
	// Pdeathsig: if pipe is killed outright, its direct child dies with it.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	c.Cancel = func() error {
		// The group id is the leader's pid (Setpgid with Pgid 0).
		return syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
	c.WaitDelay = hostWaitDelay

	err := c.Run()
	if ctx.Err() != nil {
		return -1, fmt.Errorf("run %s: %w", argv[0], ctx.Err())
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return exit.ExitCode(), nil
	}
	if err != nil {
		return -1, fmt.Errorf("run %s: %w", argv[0], err)
	}
	return 0, nil
}
