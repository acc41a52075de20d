package machine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Operations a helper serves.
const (
	opProbe     = "probe"
	opRun       = "run"
	opUpload    = "upload"
	opUploadDir = "uploaddir"
	opDownload  = "download"
)

// The helper's request arrives on fd 3 and its result leaves on fd 4 (the
// first two ExtraFiles), so that stdin, stdout and stderr belong to the
// command or the transfer alone.
const (
	requestFD = 3
	resultFD  = 4
)

// helperWaitDelay bounds the wait for the helper's stdio copies once it is
// gone; every process that could hold them died with its PID namespace, so
// this only guards against the unforeseen.
const helperWaitDelay = 5 * time.Second

// request is what one helper process is asked to do.
type request struct {
	Op   string
	Root Root
	// Path is the machine path of an upload or download, or the directory
	// receiving an UploadDir.
	Path string      `json:",omitempty"`
	Mode fs.FileMode `json:",omitempty"`
	// Src is the host directory of an UploadDir, absolute and resolved.
	Src     string   `json:",omitempty"`
	Command string   `json:",omitempty"`
	Env     []string `json:",omitempty"`
	User    string   `json:",omitempty"`
}

// result is the helper's answer. Error is empty on success; Errno carries
// the system error under it, so that errors.Is(err, fs.ErrNotExist) works
// across the process boundary.
type result struct {
	Exit  int
	Error string        `json:",omitempty"`
	Errno syscall.Errno `json:",omitempty"`
}

// streams are the helper's stdin, stdout and stderr; nil means empty or
// discarded, as for exec.Cmd.
type streams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// errNoInit guards against re-executing a binary whose main would not
// recognise the helper and would run pipe (or a test suite) recursively.
var errNoInit = errors.New("machine.Init was not called first in main: cannot start the machine helper")

// helperError is an error reported by the helper.
type helperError struct {
	msg   string
	errno syscall.Errno
}

func (e *helperError) Error() string { return e.msg }

func (e *helperError) Unwrap() error {
	if e.errno == 0 {
		return nil
	}
	return e.errno
}

// call runs one helper process for req and returns its result. Cancelling
// ctx kills the helper's process group; its namespaces, mounts and
// processes die with it.
func call(ctx context.Context, req *request, s streams) (*result, error) {
	if !initialized.Load() {
		return nil, errNoInit
	}
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer reqW.Close()
	resR, resW, err := os.Pipe()
	if err != nil {
		reqR.Close()
		return nil, err
	}
	defer resR.Close()
	c, tail := helperCmd(ctx, s, reqR, resW)
	err = c.Start()
	// The helper has its own copies now; ours would keep resR from EOF.
	reqR.Close()
	resW.Close()
	if err != nil {
		return nil, fmt.Errorf("start machine helper: %w", err)
	}
	// The helper reads the whole request before it writes anything, so a
	// synchronous write cannot deadlock; a helper that died makes it fail.
	werr := json.NewEncoder(reqW).Encode(req)
	reqW.Close()
	out, rerr := io.ReadAll(resR)
	waitErr := c.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var res result
	if jerr := json.Unmarshal(out, &res); rerr != nil || jerr != nil || len(out) == 0 {
		return nil, helperFailure(errors.Join(waitErr, werr, rerr), tail)
	}
	if res.Error != "" {
		return nil, &helperError{res.Error, res.Errno}
	}
	return &res, nil
}

// helperCmd prepares the helper process: /proc/self/exe under the helper's
// name, in new mount, PID, UTS and IPC namespaces, killed with pipe and with
// ctx.
func helperCmd(ctx context.Context, s streams, reqR, resW *os.File) (*exec.Cmd, *tailWriter) {
	c := exec.CommandContext(ctx, "/proc/self/exe")
	c.Args = []string{helperName}
	c.Stdin, c.Stdout, c.Stderr = s.stdin, s.stdout, s.stderr
	// Keep the end of stderr, where a helper that crashed says why.
	tail := &tailWriter{w: s.stderr}
	c.Stderr = tail
	c.ExtraFiles = []*os.File{reqR, resW}
	// A race-enabled build (pipe's tests) sleeps a second before exiting,
	// once per operation; the helper has no goroutines left to report on.
	c.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	// Pdeathsig fires when the thread that forked exits, not the process;
	// Go ends threads only under LockOSThread, which pipe does not use.
	c.SysProcAttr = &syscall.SysProcAttr{
		// The host's network namespace is kept on purpose: builds
		// download packages.
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		Pdeathsig:  syscall.SIGKILL,
		Setpgid:    true,
	}
	c.Cancel = func() error {
		// The group id is the helper's pid (Setpgid with Pgid 0).
		return syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
	c.WaitDelay = helperWaitDelay
	return c, tail
}

// helperFailure describes a helper that exited without a result.
func helperFailure(err error, tail *tailWriter) error {
	if err == nil {
		err = errors.New("no result")
	}
	if msg := strings.TrimSpace(string(tail.buf)); msg != "" {
		return fmt.Errorf("machine helper failed: %w: %s", err, msg)
	}
	return fmt.Errorf("machine helper failed: %w", err)
}

// tailWriter passes writes on to w (if any) and keeps the last bytes.
type tailWriter struct {
	w   io.Writer
	buf []byte
}

const tailSize = 2048

func (t *tailWriter) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	if t.w == nil {
		return len(p), nil
	}
	return t.w.Write(p)
}
