package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipebuild/pipe/builders/amazon"
	"github.com/pipebuild/pipe/builders/amazon/amazontest"
)

const prunePipeline = `name: pruned
variables:
  v: { type: string }
builders:
  aws:
    type: amazon-ebs
    region: us-east-1
    instance_type: t3.small
    ami_name: pruned
    ssh_username: root
    ssh_timeout: 30s
    temporary_security_group_source_cidrs: ["127.0.0.1/32"]
    aws_polling: { scale: 0.02 }
    source:
      ami_filter: { name: "debian-12-amd64-pipe-fake", owners: ["136693071363"], most_recent: true }
stages:
  base:
    provision:
      - shell: { inline: ["echo ${{ vars.v }} > /root/v"] }
`

// fakeProject starts a fake EC2 with real sshd instances and writes
// pipeline into a new project directory; env reaches the fake from a pipe
// child process.
func fakeProject(t *testing.T, pipeline string) (f *amazontest.Fake, dir string, env []string) {
	t.Helper()
	runner := amazontest.RequireSSHD(t, amazontest.SSHDOptions{})
	f = amazontest.New(amazontest.Options{Delays: amazontest.RealisticDelays.Scale(0.01), Runner: runner})
	endpoint := f.Start(t)
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pipe.yaml"), []byte(pipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	env = append(os.Environ(),
		"AWS_ENDPOINT_URL_EC2="+endpoint, "AWS_ACCESS_KEY_ID=AKIDFAKE", "AWS_SECRET_ACCESS_KEY=secret",
		"AWS_SESSION_TOKEN=", "AWS_PROFILE=", "AWS_CONFIG_FILE="+os.DevNull, "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true", amazon.FakeSSHPortEnv+"=1",
		"PIPE_CACHE_DIR="+filepath.Join(dir, "cache"), "HOME="+dir, "PIPE_TEST_EXIT_FILE=")
	return f, dir, env
}

// TestAmazonPruneDeregisters builds two AMIs of one node, then checks that
// `pipe cache prune --keep 1` deregisters the older one (and only it),
// and that --dry-run changes nothing.
func TestAmazonPruneDeregisters(t *testing.T) {
	f, dir, env := fakeProject(t, prunePipeline)
	pipe := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("pipe", args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("pipe %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	ami := func() string {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(dir, "pipe-manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Nodes []struct {
				OutputID string `json:"output_id"`
			}
		}
		if err := json.Unmarshal(data, &m); err != nil || len(m.Nodes) != 1 {
			t.Fatalf("manifest: %v %s", err, data)
		}
		return m.Nodes[0].OutputID
	}
	pipe("run", "--var", "v=one")
	old := ami()
	pipe("run", "--var", "v=two")
	cur := ami()
	if old == cur || old == "" {
		t.Fatalf("two builds gave AMIs %q and %q", old, cur)
	}
	exists := func(id string) bool {
		im, ok := f.Image(id)
		return ok && im.State == "available"
	}

	out := pipe("cache", "prune", "--keep", "1", "--dry-run")
	if !strings.Contains(out, "would delete amazon-ebs image us-east-1:"+old) || strings.Contains(out, cur) {
		t.Errorf("dry run output:\n%s", out)
	}
	if !exists(old) || !exists(cur) {
		t.Fatalf("a dry run deleted an AMI")
	}
	out = pipe("cache", "prune", "--keep", "1")
	if !strings.Contains(out, "deleted amazon-ebs image us-east-1:"+old) {
		t.Errorf("prune output:\n%s", out)
	}
	if exists(old) {
		t.Errorf("old AMI %s still registered", old)
	}
	if !exists(cur) {
		t.Errorf("current AMI %s was deregistered", cur)
	}
	if left := f.Leftovers("pipe:node", "base@aws"); len(left) != 2 { // the current AMI and its snapshot
		t.Errorf("resources of base@aws left: %v", left)
	}
}

// TestAmazonForceKeepsPublishedAMI rebuilds a node with --force: the same
// key once gave the same AMI name, CreateImage failed on the duplicate, and
// the undo deregistered the published AMI it found by that name.
func TestAmazonForceKeepsPublishedAMI(t *testing.T) {
	f, dir, env := fakeProject(t, prunePipeline)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("pipe", append([]string{"run", "--var", "v=one"}, args...)...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("pipe run %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		data, err := os.ReadFile(filepath.Join(dir, "pipe-manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Nodes []struct {
				OutputID string `json:"output_id"`
			}
		}
		if err := json.Unmarshal(data, &m); err != nil || len(m.Nodes) != 1 {
			t.Fatalf("manifest: %v %s", err, data)
		}
		return m.Nodes[0].OutputID
	}
	first := run()
	second := run("--force", "base")
	if first == second {
		t.Fatalf("--force reused AMI %s", first)
	}
	for _, id := range []string{first, second} {
		if im, ok := f.Image(id); !ok || im.State != "available" {
			t.Errorf("AMI %s: %+v, %v; want available", id, im, ok)
		}
	}
	if im, _ := f.Image(second); im.Tags["pipe:current"] != "true" {
		t.Errorf("the rebuilt AMI is not current: %v", im.Tags)
	}
	if im, _ := f.Image(first); im.Tags["pipe:current"] == "true" {
		t.Errorf("the old AMI is still current: %v", im.Tags)
	}
}
