package machine

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// policyRCPath is Debian's hook that invoke-rc.d asks before starting a
// service; exit status 101 means "not now". Without it, installing a daemon
// in a machine would start it.
const policyRCPath = "/usr/sbin/policy-rc.d"

var policyRC = []byte("#!/bin/sh\nexit 101\n")

// defaultEnv is a command's environment before the user's home and Cmd.Env:
// the host's environment never leaks into a machine.
var defaultEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"LANG=C.UTF-8",
	"TERM=dumb",
	"DEBIAN_FRONTEND=noninteractive",
}

// runOp serves Run: it prepares the machine, runs the command and takes
// away everything it added, whatever happened in between.
func runOp(req *request) (int, error) {
	b, err := openBinds(&req.Root)
	if err != nil {
		return 0, err
	}
	if err := enter(req.Root.Merged); err != nil {
		return 0, err
	}
	t := &tree{}
	status, err := setupAndRun(t, b, req)
	if uerr := t.undo(); uerr != nil {
		err = errors.Join(err, fmt.Errorf("clean up machine: %w", uerr))
	}
	return status, err
}

func setupAndRun(t *tree, b *binds, req *request) (int, error) {
	if err := t.setup(b); err != nil {
		return 0, err
	}
	if _, err := os.Lstat(policyRCPath); err != nil {
		// The image has none: ours lasts for this command only.
		if _, err := t.ensureFile(policyRCPath, 0o755, policyRC); err != nil {
			return 0, err
		}
	}
	return runCommand(req)
}

// runCommand runs /bin/sh -c in the tree as the requested user, waits for
// it, then kills and reaps whatever it left running: the helper is PID 1,
// so every orphan of the command is its child.
func runCommand(req *request) (int, error) {
	id, err := lookupUser(req.User)
	if err != nil {
		return 0, err
	}
	// Every mount is in place: the command starts with Docker's default
	// capabilities only, while the helper keeps its own for the clean-up.
	p, err := startRestricted(func() (*os.Process, error) {
		return os.StartProcess("/bin/sh", []string{"sh", "-c", req.Command}, &os.ProcAttr{
			Dir:   "/",
			Env:   commandEnv(id, req.Env),
			Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
			Sys: &syscall.SysProcAttr{
				Credential: &syscall.Credential{Uid: id.uid, Gid: id.gid, Groups: id.groups},
			},
		})
	})
	if err != nil {
		return 0, fmt.Errorf("start /bin/sh in the machine: %w", err)
	}
	pid := p.Pid
	// The status is collected by wait4(-1) below, which also reaps orphans.
	_ = p.Release()
	status, err := waitFor(pid)
	killRest()
	return status, err
}

// waitFor reaps children until pid exits and returns its status as a shell
// reports it (128+N for signal N).
func waitFor(pid int) (int, error) {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("wait for /bin/sh: %w", err)
		}
		if got != pid {
			continue
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ws.ExitStatus(), nil
	}
}

// killRest kills every other process of the PID namespace and reaps them,
// so that no daemon writes into the tree while it is cleaned up.
func killRest() {
	// kill(-1) from a namespace's init reaches everything in it but init.
	_ = unix.Kill(-1, unix.SIGKILL)
	for {
		_, err := unix.Wait4(-1, nil, 0, nil)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return // ECHILD: nobody left
		}
	}
}

// commandEnv is defaultEnv, then the user's HOME (and USER), then extra;
// a later KEY=VALUE replaces an earlier one.
func commandEnv(id *identity, extra []string) []string {
	env := append([]string(nil), defaultEnv...)
	env = append(env, "HOME="+id.home)
	if id.name != "" {
		env = append(env, "USER="+id.name, "LOGNAME="+id.name)
	}
	env = append(env, extra...)
	seen := map[string]int{}
	var out []string
	for _, kv := range env {
		key, _, _ := strings.Cut(kv, "=")
		if i, ok := seen[key]; ok {
			out[i] = kv
			continue
		}
		seen[key] = len(out)
		out = append(out, kv)
	}
	return out
}
