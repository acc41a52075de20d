package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pipebuild/pipe/builders/amazon"
	"github.com/pipebuild/pipe/builders/amazon/amazontest"
)

// killPipeline is base → hardened on the fake EC2; hardened provisions
// for a minute, long enough to be killed in the middle of it.
const killPipeline = `name: golden
builders:
  aws:
    type: amazon-ebs
    region: us-east-1
    instance_type: t3.small
    ami_name: golden
    ssh_username: root
    ssh_timeout: 30s
    temporary_security_group_source_cidrs: ["127.0.0.1/32"]
    aws_polling: { scale: 0.02 }
    source:
      ami_filter: { name: "debian-12-amd64-pipe-fake", owners: ["136693071363"], most_recent: true }
stages:
  base:
    builders: [aws]
    provision:
      - shell: { inline: ["echo base > /root/base"] }
  hardened:
    from: base
    provision:
      - shell:
          inline: ["echo hardened-provisioning", "sleep $SLEEP"]
          env: { SLEEP: "${{ env.SLEEP }}" }
`

// TestAmazonKill9ThenCleanup runs `pipe run` (this test binary, as
// testscript.Main installs it in $PATH) against a fake EC2 served by the
// test process, reached through AWS_ENDPOINT_URL_EC2. With real sshd
// instances, the builder finds their SSH ports through
// PIPE_FAKE_EC2_SSH_PORT_TAG=1, and pipe is killed with SIGKILL while
// hardened provisions, after base was built and recorded; without them
// (no root) instances never run and pipe is killed once base's instance
// was launched. Then
// `pipe cleanup --dry-run` lists the run's resources and changes nothing,
// and `pipe cleanup` deletes every one of them but keeps the recorded AMI.
func TestAmazonKill9ThenCleanup(t *testing.T) {
	realSSH := amazontest.CheckSSHD(amazontest.SSHDOptions{}) == nil
	if !realSSH && os.Getenv("PIPE_REQUIRE_INTEGRATION") == "1" {
		t.Fatalf("real sshd instances unavailable and PIPE_REQUIRE_INTEGRATION=1: %v", amazontest.CheckSSHD(amazontest.SSHDOptions{}))
	}
	opts := amazontest.Options{Delays: amazontest.RealisticDelays.Scale(0.01)}
	if realSSH {
		opts.Runner = amazontest.RequireSSHD(t, amazontest.SSHDOptions{})
	} else {
		// No SSH: pipe is killed while it waits for SSH that never comes.
		opts.Delays.InstanceRunning = time.Minute
	}
	f := amazontest.New(opts)
	endpoint := f.Start(t)

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pipe.yaml"), []byte(killPipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(),
		"AWS_ENDPOINT_URL_EC2="+endpoint, "AWS_ACCESS_KEY_ID=AKIDFAKE", "AWS_SECRET_ACCESS_KEY=secret",
		"AWS_SESSION_TOKEN=", "AWS_PROFILE=", "AWS_CONFIG_FILE="+os.DevNull, "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true", amazon.FakeSSHPortEnv+"=1",
		"PIPE_CACHE_DIR="+filepath.Join(dir, "cache"), "HOME="+dir, "XDG_CACHE_HOME="+filepath.Join(dir, ".cache"),
		"PIPE_TEST_EXIT_FILE=", "SLEEP=60")
	pipe := func(args ...string) *exec.Cmd {
		cmd := exec.Command("pipe", args...)
		cmd.Dir, cmd.Env = dir, env
		return cmd
	}

	run := pipe("run")
	stdout, err := run.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	run.Stderr = &stderr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	marker := "hardened@aws | hardened-provisioning"
	if !realSSH {
		marker = "launched instance"
	}
	var out strings.Builder
	found := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		seen := false
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if !seen && strings.Contains(sc.Text(), marker) {
				seen = true
				found <- true
			}
		}
		if !seen {
			found <- false
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case ok := <-found:
		if !ok {
			_ = run.Wait()
			t.Fatalf("pipe run ended before %q:\n%s\n%s", marker, out.String(), stderr.String())
		}
	case <-time.After(60 * time.Second):
		_ = run.Process.Kill()
		_ = run.Wait()
		t.Fatalf("no %q within 60s:\n%s\n%s", marker, out.String(), stderr.String())
	}
	if err := run.Process.Kill(); err != nil { // SIGKILL: no undo runs
		t.Fatal(err)
	}
	_ = run.Wait()

	left := f.Leftovers("pipe:temporary", "")
	kinds := map[string]bool{}
	for _, id := range left {
		kinds[regexp.MustCompile(`^us-east-1/([a-z]+)-`).FindStringSubmatch(id)[1]] = true
	}
	for _, k := range []string{"i", "key", "sg"} {
		if !kinds[k] {
			t.Fatalf("after kill -9, no %s-… resource is left to clean up: %v", k, left)
		}
	}
	var baseAMI string
	if realSSH {
		m := regexp.MustCompile(`base@aws built us-east-1:(ami-[0-9a-f]+)`).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("base was not built before the kill:\n%s", out.String())
		}
		baseAMI = m[1]
	}

	before := f.MutatingCalls()
	dry, err := pipe("cleanup", "--dry-run").CombinedOutput()
	if err != nil {
		t.Fatalf("pipe cleanup --dry-run: %v\n%s", err, dry)
	}
	for _, id := range left {
		if id := strings.TrimPrefix(id, "us-east-1/"); !strings.Contains(string(dry), id) {
			t.Errorf("pipe cleanup --dry-run does not list %s:\n%s", id, dry)
		}
	}
	if !strings.Contains(string(dry), "would delete amazon-ebs us-east-1 instance i-") {
		t.Errorf("pipe cleanup --dry-run:\n%s", dry)
	}
	if n := f.MutatingCalls() - before; n != 0 {
		t.Errorf("pipe cleanup --dry-run made %d mutating calls", n)
	}
	if baseAMI != "" && strings.Contains(string(dry), baseAMI) {
		t.Errorf("pipe cleanup --dry-run would delete the recorded AMI %s:\n%s", baseAMI, dry)
	}

	if out, err := pipe("cleanup").CombinedOutput(); err != nil {
		t.Fatalf("pipe cleanup: %v\n%s", err, out)
	} else {
		t.Logf("pipe cleanup:\n%s", out)
	}
	if left := f.Leftovers("pipe:temporary", ""); len(left) != 0 {
		t.Errorf("left after pipe cleanup: %v", left)
	}
	if baseAMI != "" {
		if im, ok := f.Image(baseAMI); !ok || im.State != "available" {
			t.Errorf("pipe cleanup removed base's recorded AMI %s: %+v", baseAMI, im)
		}
		if left := f.Leftovers("", ""); len(left) != 2 { // base's AMI and its snapshot
			t.Errorf("resources after pipe cleanup: %v, want base's AMI and snapshot", left)
		}
		// The next run reuses base and builds hardened.
		env = append(env, "SLEEP=0")
		if out, err := pipe("run").CombinedOutput(); err != nil || !strings.Contains(string(out), "base@aws cached") {
			t.Errorf("pipe run after cleanup: %v\n%s", err, out)
		}
		if left := f.Leftovers("pipe:temporary", ""); len(left) != 0 {
			t.Errorf("left after the second run: %v", left)
		}
	}
}
