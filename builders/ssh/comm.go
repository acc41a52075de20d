package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/pipebuild/pipe/stages"
)

// Sessions: OpenSSH allows 10 per connection (MaxSessions); a closed one
// stays counted until sshd has seen it go, and a cancel needs one more to
// kill with. So a Communicator keeps below the limit and retries a refused
// session briefly.
const (
	maxSessions   = 8
	openRetries   = 20
	openRetryWait = 100 * time.Millisecond
)

// After a cancel: how long killing may take, and how long the closed
// session's output may take to drain. Bounded, because a dead connection
// does neither.
const (
	killTimeout = 10 * time.Second
	drainDelay  = 5 * time.Second
)

// Communicator runs commands and moves files over one SSH connection, a
// session per call.
type Communicator struct {
	client *ssh.Client
	// user is the login user, for whom Cmd.User needs no sudo.
	user string
	// sessions holds a token per open session; shared by all of a Client's
	// Communicators.
	sessions chan struct{}
}

var _ stages.Communicator = (*Communicator)(nil)

// Run runs cmd.Command with /bin/sh -c in the machine and returns its exit
// status (128+N for a command killed by signal N). cmd.Env is exported in
// the command line; cmd.User other than the login user runs the command
// through "sudo -n". Cancelling ctx kills the command's process group (see
// remote).
//
// A connection that drops before the command reports its status (a reboot,
// sshd restarting; Packer's exit status 2300218) is an error, not a status.
func (c *Communicator) Run(ctx context.Context, cmd *stages.Cmd) (int, error) {
	r, err := commandLine(cmd, c.user)
	if err != nil {
		return -1, fmt.Errorf("run: %w", err)
	}
	return c.run(ctx, r, cmd.Stdin, cmd.Stdout, cmd.Stderr)
}

// run runs r in a new session.
func (c *Communicator) run(ctx context.Context, r remote, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	select {
	case c.sessions <- struct{}{}:
		defer func() { <-c.sessions }()
	case <-ctx.Done():
		return -1, fmt.Errorf("run: %w", ctx.Err())
	}
	s, err := c.newSession(ctx)
	if err != nil {
		return -1, fmt.Errorf("run: open ssh session: %w", err)
	}
	defer s.Close()
	s.Stdin = stdin
	s.Stdout, s.Stderr = serialize(stdout, stderr)
	if err := s.Start(r.line); err != nil {
		return -1, fmt.Errorf("run: start: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err = <-done:
		return exitStatus(err)
	case <-ctx.Done():
	}
	s.Close()
	c.kill(ctx, r)
	waitFor(done, drainDelay)
	return -1, fmt.Errorf("run: %w", ctx.Err())
}

// kill runs r's killer, after ctx ended, in the session slot r held. It is
// best effort: a connection that died took the command's output with it.
func (c *Communicator) kill(ctx context.Context, r remote) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), killTimeout)
	defer cancel()
	s, err := c.newSession(ctx)
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan error, 1)
	go func() { done <- s.Run(r.kill) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// newSession opens a session, retrying while the server refuses it for
// having too many (its sessions may close later than ours).
func (c *Communicator) newSession(ctx context.Context) (*ssh.Session, error) {
	for i := 0; ; i++ {
		s, err := c.client.NewSession()
		var refused *ssh.OpenChannelError
		if err == nil || !errors.As(err, &refused) || refused.Reason != ssh.ConnectionFailed || i == openRetries {
			return s, err
		}
		t := time.NewTimer(openRetryWait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// exitStatus turns the result of Session.Wait into Run's results.
func exitStatus(err error) (int, error) {
	var exit *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exit):
		return exit.ExitStatus(), nil
	case errors.As(err, &missing):
		return -1, errors.New("run: connection dropped before the command reported its exit status (did the machine reboot?)")
	default:
		return -1, fmt.Errorf("run: %w", err)
	}
}

// serialize returns writers that write to stdout and stderr one at a time.
// The session copies its two streams in two goroutines, and callers often
// pass one writer for both (a provisioner's log), which need not be safe
// for concurrent use; exec.Cmd takes care of that case, x/crypto/ssh does
// not. Nil stays nil, for the session to discard.
func serialize(stdout, stderr io.Writer) (io.Writer, io.Writer) {
	mu := new(sync.Mutex)
	wrap := func(w io.Writer) io.Writer {
		if w == nil {
			return nil
		}
		return &lockedWriter{mu: mu, w: w}
	}
	return wrap(stdout), wrap(stderr)
}

// lockedWriter writes to w holding mu. It has only Write, which also keeps
// io.Copy from using w's ReadFrom, a read that would hold no lock.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// waitFor reports whether done delivered within d.
func waitFor(done <-chan error, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
