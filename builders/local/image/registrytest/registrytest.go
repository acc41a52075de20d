// Package registrytest starts a real container registry (Debian's
// docker-registry, the CNCF distribution registry) on loopback for tests.
package registrytest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Start runs docker-registry on 127.0.0.1 with its storage in a temp dir,
// waits until it answers, and stops it when the test ends. It returns the
// registry's host:port, for references such as addr+"/x:tag" used with
// plain HTTP (name.Insecure).
//
// Without the docker-registry binary the test is skipped, unless
// PIPE_REQUIRE_INTEGRATION=1, which makes it fail.
func Start(t testing.TB) (addr string) {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		msg := "docker-registry is not installed (apt-get install docker-registry)"
		if os.Getenv("PIPE_REQUIRE_INTEGRATION") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	addr = freeAddr(t)
	config := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(config, []byte(configYAML(filepath.Join(dir, "storage"), addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve", config)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start docker-registry: %v", err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	stop := func() {
		cmd.Process.Kill()
		<-done
	}
	if err := waitReady(addr, done); err != nil {
		stop()
		t.Fatalf("docker-registry on %s: %v (exit: %v)\n%s", addr, err, waitErr, logs.String())
	}
	t.Cleanup(stop)
	return addr
}

func configYAML(storage, addr string) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, storage, addr)
}

// freeAddr picks a free loopback port. Another process could take it before
// the registry binds it; waitReady then reports the registry's exit.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitReady polls /v2/ until the registry answers, it exits, or 15 s pass.
func waitReady(addr string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("exited early")
		default:
		}
		resp, err := client.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after 15s")
}
