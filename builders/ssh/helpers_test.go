package ssh_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pipebuild/pipe/builders/ssh"
	"github.com/pipebuild/pipe/builders/ssh/sshtest"
	"github.com/pipebuild/pipe/stages"
)

// connect starts an sshd and returns a Communicator connected to it.
func connect(t *testing.T) (stages.Communicator, *sshtest.Server) {
	t.Helper()
	s := sshtest.Start(t)
	return dial(t, s), s
}

func dial(t *testing.T, s *sshtest.Server) stages.Communicator {
	t.Helper()
	c, err := ssh.Dial(context.Background(), config(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c.Communicator()
}

func config(s *sshtest.Server) ssh.Config {
	return ssh.Config{Host: s.Host, Port: s.Port, User: s.User, Signer: s.Signer,
		HostKey: s.HostKey, Timeout: 10 * time.Second}
}

// run runs command and returns its status, stdout and stderr.
func run(t *testing.T, comm stages.Communicator, cmd *stages.Cmd) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	status, err := comm.Run(context.Background(), cmd)
	if err != nil {
		t.Fatalf("Run(%q): %v", cmd.Command, err)
	}
	return status, stdout.String(), stderr.String()
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
