package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/crypto/ssh"
)

// Retry delays: quick at first, for an instance that is nearly up, then
// backing off so that minutes of booting cost a few dozen attempts.
const (
	firstDelay  = 200 * time.Millisecond
	delayFactor = 1.5
	maxDelay    = 5 * time.Second
	// attemptTimeout bounds one attempt, connect and handshake: a SYN to an
	// instance whose network is not up yet may go unanswered, and a half-up
	// sshd may accept and then say nothing.
	attemptTimeout = 30 * time.Second
)

// HostKeyError is the error of a machine whose host key is not
// Config.HostKey. Dial does not retry it.
type HostKeyError struct {
	Got, Want ssh.PublicKey
}

// Error names both keys by type and fingerprint.
func (e *HostKeyError) Error() string {
	return fmt.Sprintf("host key mismatch: got %s %s, want %s %s",
		e.Got.Type(), ssh.FingerprintSHA256(e.Got), e.Want.Type(), ssh.FingerprintSHA256(e.Want))
}

// dial tries to connect until it succeeds, the host key is wrong, cfg.Timeout
// passes or ctx ends.
func dial(ctx context.Context, cfg *Config) (*ssh.Client, error) {
	cfg.logf("waiting for SSH on %s…", cfg.name())
	w := &waiter{cfg: cfg, start: time.Now(), delay: firstDelay}
	w.deadline = w.start.Add(cfg.Timeout)
	for attempt := 1; ; attempt++ {
		c, err := dialOnce(ctx, cfg, w.deadline)
		if err == nil {
			cfg.logf("connected to SSH on %s after %s (%d attempts)", cfg.name(), since(w.start), attempt)
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, w.canceled(ctx)
		}
		if hk := (*HostKeyError)(nil); errors.As(err, &hk) {
			return nil, fmt.Errorf("ssh %s: %w", cfg.name(), err)
		}
		w.failed(err)
		if err := w.sleep(ctx); err != nil {
			return nil, err
		}
	}
}

// waiter paces Dial's attempts and words its failure.
type waiter struct {
	cfg             *Config
	start, deadline time.Time
	delay           time.Duration
	last            error
}

// failed records an attempt's error, logging each new kind once.
func (w *waiter) failed(err error) {
	// An attempt that the overall deadline cut short ("i/o timeout") says
	// less than the one before it.
	if w.last != nil && !time.Now().Before(w.deadline) {
		return
	}
	if w.last == nil || err.Error() != w.last.Error() {
		w.cfg.logf("ssh %s: %v; retrying", w.cfg.name(), err)
	}
	w.last = err
}

// sleep waits before the next attempt, or returns why there is none.
func (w *waiter) sleep(ctx context.Context) error {
	wait := time.Until(w.deadline)
	if wait <= 0 {
		return w.gaveUp()
	}
	t := time.NewTimer(min(w.delay, wait))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return w.canceled(ctx)
	case <-t.C:
	}
	if !time.Now().Before(w.deadline) {
		return w.gaveUp()
	}
	w.delay = min(time.Duration(float64(w.delay)*delayFactor), maxDelay)
	return nil
}

func (w *waiter) gaveUp() error {
	return fmt.Errorf("ssh %s: not reachable after %s: last error: %w", w.cfg.name(), w.cfg.Timeout, w.last)
}

func (w *waiter) canceled(ctx context.Context) error {
	last := any("none")
	if w.last != nil {
		last = w.last
	}
	return fmt.Errorf("ssh %s: %w after %s (last error: %v)", w.cfg.name(), ctx.Err(), since(w.start), last)
}

// dialOnce makes one attempt: connect and handshake within attemptTimeout
// (and before deadline), abandoned at once when ctx ends.
func dialOnce(ctx context.Context, cfg *Config, deadline time.Time) (*ssh.Client, error) {
	end := time.Now().Add(attemptTimeout)
	if deadline.Before(end) {
		end = deadline
	}
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", cfg.addr())
	if err != nil {
		return nil, err
	}
	// The handshake is bounded by the deadline and ended by ctx (closing the
	// connection unblocks it).
	if err := conn.SetDeadline(end); err != nil {
		conn.Close()
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(conn, cfg.addr(), clientConfig(cfg))
	if !stop() {
		if err == nil {
			sc.Close()
		}
		return nil, fmt.Errorf("handshake: %w", ctx.Err())
	}
	if err == nil {
		err = conn.SetDeadline(time.Time{})
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return ssh.NewClient(sc, chans, reqs), nil
}

func clientConfig(cfg *Config) *ssh.ClientConfig {
	cc := &ssh.ClientConfig{
		User: cfg.User,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(cfg.Signer)},
		// Nil HostKey: see Config.HostKey for why accepting any key is right
		// for temporary instances.
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
	}
	if want := cfg.HostKey; want != nil {
		cc.HostKeyCallback = func(_ string, _ net.Addr, got ssh.PublicKey) error {
			if !bytes.Equal(got.Marshal(), want.Marshal()) {
				return &HostKeyError{Got: got, Want: want}
			}
			return nil
		}
		// Ask for the expected key's type: a server with several host keys
		// would otherwise present whichever type is negotiated first, and a
		// right machine would look like a wrong one.
		cc.HostKeyAlgorithms = hostKeyAlgorithms(want.Type())
	}
	return cc
}

// hostKeyAlgorithms lists the signature algorithms for a key type; RSA keys
// sign with SHA-2 algorithms of their own names.
func hostKeyAlgorithms(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

func since(t time.Time) time.Duration {
	return time.Since(t).Round(time.Millisecond)
}
