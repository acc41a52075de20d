// Package sshtest starts throwaway OpenSSH servers for tests: a real
// /usr/sbin/sshd on 127.0.0.1 with its own host key, an authorized client key
// and root login, stopped when the test ends.
//
// It needs root (sshd changes user for the session) and Debian's sshd. Tests
// that cannot have them are skipped, unless PIPE_REQUIRE_INTEGRATION=1 makes
// the missing prerequisite a failure, as it should be in CI.
package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHD is the server binary the helper runs.
const SSHD = "/usr/sbin/sshd"

// readyTimeout bounds how long Start waits for sshd to accept connections.
const readyTimeout = 10 * time.Second

// Server is one sshd. Its fields are set by New; the process runs between
// Start and the end of the test.
type Server struct {
	// Host and Port are where sshd listens.
	Host string
	Port int
	// User is the login user: root, the only one that exists in every test
	// machine.
	User string
	// Signer is the client key that sshd accepts.
	Signer ssh.Signer
	// HostKey is sshd's public host key.
	HostKey ssh.PublicKey
	// Dir holds the config, keys, PID file and log (sshd.log).
	Dir string

	tb      testing.TB
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	stopped bool
}

// Require skips tb unless the test runs as root and sshd is installed; with
// PIPE_REQUIRE_INTEGRATION=1 it fails tb instead.
func Require(tb testing.TB) {
	tb.Helper()
	var why string
	if os.Geteuid() != 0 {
		why = "sshd tests need root"
	} else if _, err := os.Stat(SSHD); err != nil {
		why = fmt.Sprintf("sshd tests need %s: %v", SSHD, err)
	}
	if why == "" {
		return
	}
	if os.Getenv("PIPE_REQUIRE_INTEGRATION") == "1" {
		tb.Fatal(why + " (PIPE_REQUIRE_INTEGRATION=1)")
	}
	tb.Skip(why)
}

// Start starts a server and fails tb if it cannot.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := New(tb)
	if err := s.Start(); err != nil {
		tb.Fatal(err)
	}
	return s
}

// New prepares a server on a free port without starting it, so that a test
// can know its address before it listens (to dial early, say). It skips tb
// like Require, and registers the server's stop with tb.Cleanup.
func New(tb testing.TB) *Server {
	tb.Helper()
	Require(tb)
	s := &Server{Host: "127.0.0.1", User: "root", Dir: tb.TempDir(), tb: tb}
	var err error
	if s.Port, err = freePort(); err != nil {
		tb.Fatal(err)
	}
	if err := s.writeFiles(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.stop)
	return s
}

// Addr is "host:port".
func (s *Server) Addr() string {
	return net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// Start runs sshd and waits until it accepts connections. It reports errors
// instead of failing the test, so that it may run in another goroutine.
func (s *Server) Start() error {
	// sshd's privilege separation needs its empty directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return fmt.Errorf("sshtest: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(s.Dir, "sshd.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("sshtest: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(SSHD, "-D", "-e", "-f", filepath.Join(s.Dir, "sshd_config"))
	cmd.Stdout, cmd.Stderr = logf, logf
	// A test binary killed by its timeout runs no cleanup; its sshd must not
	// outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s.mu.Lock()
	if s.stopped || s.cmd != nil {
		s.mu.Unlock()
		return errors.New("sshtest: server stopped or already started")
	}
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("sshtest: start sshd: %w", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { _ = cmd.Wait(); close(exited) }(s.exited)
	exited := s.exited
	s.mu.Unlock()
	return s.waitReady(exited)
}

func (s *Server) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("sshtest: sshd exited early: %s", s.Log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sshtest: sshd not listening on %s after %s: %s", s.Addr(), readyTimeout, s.Log())
		}
	}
}

// Log returns what sshd wrote so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "sshd.log"))
	return string(b)
}

// stop kills sshd by its PID. The connections' own sshd processes end with
// their clients, which the tests close.
func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	if s.tb.Failed() {
		s.tb.Logf("sshd log:\n%s", s.Log())
	}
}

func (s *Server) writeFiles() error {
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		return err
	}
	block, err := ssh.MarshalPrivateKey(hostPriv, "pipe sshtest host")
	if err != nil {
		return err
	}
	_, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if s.Signer, err = ssh.NewSignerFromKey(clientPriv); err != nil {
		return err
	}
	s.HostKey = hostSigner.PublicKey()

	// An empty home: the host's root has dotfiles (a .bashrc that runs
	// pyenv, say) that a test machine would not, and that make each login
	// slow and racy.
	home := filepath.Join(s.Dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		return err
	}
	hostKeyFile := filepath.Join(s.Dir, "host_ed25519")
	authKeys := filepath.Join(s.Dir, "authorized_keys")
	config := fmt.Sprintf(`Port %d
ListenAddress %s
HostKey %s
AuthorizedKeysFile %s
PidFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
SetEnv HOME=%s
`, s.Port, s.Host, hostKeyFile, authKeys, filepath.Join(s.Dir, "sshd.pid"), home)
	for _, f := range []struct {
		name string
		data []byte
	}{
		// sshd refuses a host key that others can read.
		{hostKeyFile, pem.EncodeToMemory(block)},
		{authKeys, ssh.MarshalAuthorizedKey(s.Signer.PublicKey())},
		{filepath.Join(s.Dir, "sshd_config"), []byte(config)},
	} {
		if err := os.WriteFile(f.name, f.data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// freePort returns a port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("sshtest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
