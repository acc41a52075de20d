package ssh_test

import (
	"context"
	"errors"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/pipebuild/pipe/builders/ssh"
	"github.com/pipebuild/pipe/builders/ssh/sshtest"
	"github.com/pipebuild/pipe/stages"
)

// closedPort returns a port on 127.0.0.1 that nothing listens on.
func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestDialClosedPort(t *testing.T) {
	var log strings.Builder
	key, _, err := ssh.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := ssh.Config{Host: "127.0.0.1", Port: closedPort(t), User: "admin", Signer: key,
		Timeout: time.Second, Log: &log}
	_, err = ssh.Dial(context.Background(), cfg)
	want := `^ssh admin@127\.0\.0\.1:\d+: not reachable after 1s: last error: .*connection refused$`
	if err == nil || !regexp.MustCompile(want).MatchString(err.Error()) {
		t.Fatalf("err = %v, want match for %s", err, want)
	}
	if !strings.Contains(log.String(), "waiting for SSH on admin@127.0.0.1:") {
		t.Errorf("log = %q, want a waiting line", log.String())
	}
}

func TestDialCancel(t *testing.T) {
	key, _, err := ssh.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = ssh.Dial(ctx, ssh.Config{Host: "127.0.0.1", Port: closedPort(t), User: "admin", Signer: key})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v, want the deadline and the last error", err)
	}
}

// TestDialWaits starts sshd a second after Dial began, as an instance's
// sshd comes up after its IP address is known.
func TestDialWaits(t *testing.T) {
	s := sshtest.New(t)
	started := make(chan error, 1)
	go func() {
		time.Sleep(time.Second)
		started <- s.Start()
	}()
	cfg := config(s)
	cfg.Timeout = 30 * time.Second
	c, err := ssh.Dial(context.Background(), cfg)
	if serr := <-started; serr != nil {
		t.Fatal(serr)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out strings.Builder
	status, err := c.Communicator().Run(context.Background(), &stages.Cmd{Command: "echo up", Stdout: &out})
	if err != nil || status != 0 || out.String() != "up\n" {
		t.Fatalf("Run: %d, %q, %v", status, out.String(), err)
	}
}

// TestDialWrongKey: a rejected key is retried (cloud-init may not have
// installed it yet) until the timeout.
func TestDialWrongKey(t *testing.T) {
	s := sshtest.Start(t)
	cfg := config(s)
	var err error
	if cfg.Signer, _, err = ssh.GenerateKey(); err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = time.Second
	_, err = ssh.Dial(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "not reachable after 1s: last error: ssh: handshake failed: ssh: unable to authenticate") {
		t.Fatalf("err = %v, want an authentication failure after retries", err)
	}
}

// TestDialHostKeyMismatch: a wrong host key fails at once, not after
// Timeout.
func TestDialHostKeyMismatch(t *testing.T) {
	s := sshtest.Start(t)
	other, _, err := ssh.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config(s)
	cfg.HostKey = other.PublicKey()
	cfg.Timeout = time.Hour
	_, err = ssh.Dial(context.Background(), cfg)
	var hk *ssh.HostKeyError
	if !errors.As(err, &hk) || !strings.Contains(err.Error(), "host key mismatch") {
		t.Fatalf("err = %v, want a host key mismatch", err)
	}
	if got := xssh.FingerprintSHA256(hk.Got); got != xssh.FingerprintSHA256(s.HostKey) {
		t.Errorf("mismatch names key %s, want the server's", got)
	}
}

// TestDialAnyHostKey: a nil HostKey accepts the server's key.
func TestDialAnyHostKey(t *testing.T) {
	s := sshtest.Start(t)
	cfg := config(s)
	cfg.HostKey = nil
	c, err := ssh.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestDialConfigErrors(t *testing.T) {
	_, err := ssh.Dial(context.Background(), ssh.Config{Port: 70000})
	for _, want := range []string{"no host", "no user", "no private key", "port 70000 out of range"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to say %q", err, want)
		}
	}
}

func TestGenerateKey(t *testing.T) {
	signer, line, err := ssh.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, rest, err := xssh.ParseAuthorizedKey([]byte(line))
	if err != nil || len(rest) != 0 {
		t.Fatalf("ParseAuthorizedKey(%q): %v, rest %q", line, err, rest)
	}
	if pub.Type() != xssh.KeyAlgoED25519 || string(pub.Marshal()) != string(signer.PublicKey().Marshal()) {
		t.Errorf("authorized key %q does not match the signer", line)
	}
	if strings.HasSuffix(line, "\n") {
		t.Errorf("authorized key %q ends in a newline", line)
	}
}
