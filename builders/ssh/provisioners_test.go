package ssh_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pipebuild/pipe/stages"
	"github.com/pipebuild/pipe/stages/file"
	"github.com/pipebuild/pipe/stages/shell"
)

// provision runs provisioner p with cfg against comm, as a stage would.
func provision(t *testing.T, p stages.Provisioner, cfg any, comm stages.Communicator, dir string) string {
	t.Helper()
	if err := p.Prepare(cfg, dir); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	var out bytes.Buffer
	env := &stages.Env{Node: "app@amazon-ebs", BuilderType: "amazon-ebs", Dir: dir, Comm: comm,
		Stdout: &out, Stderr: &out}
	if err := p.Run(context.Background(), cfg, env); err != nil {
		t.Fatalf("Run: %v\noutput:\n%s", err, out.String())
	}
	return out.String()
}

func TestShellProvisioner(t *testing.T) {
	comm, _ := connect(t)
	dir := t.TempDir()
	machine := t.TempDir()
	writeFile(t, filepath.Join(dir, "setup.sh"), "#!/bin/sh\necho \"script as $(id -un) with $GREETING\"\n", 0o644)

	out := provision(t, shell.New(), &shell.Config{
		Inline: []string{
			`echo "$PIPE_NODE $PIPE_BUILDER_TYPE"`,
			`echo "$GREETING" > ` + machine + `/greeting`,
		},
		Env: map[string]string{"GREETING": "it's a \"$test\""},
	}, comm, dir)
	if want := "app@amazon-ebs amazon-ebs\n"; out != want {
		t.Errorf("inline output = %q, want %q", out, want)
	}
	if got, want := readFile(t, filepath.Join(machine, "greeting")), "it's a \"$test\"\n"; got != want {
		t.Errorf("greeting = %q, want %q", got, want)
	}

	remote := t.TempDir()
	out = provision(t, shell.New(), &shell.Config{Script: "setup.sh", User: "root", RemoteFolder: remote,
		EnvironmentVars: []string{"GREETING=vars"}}, comm, dir)
	if want := "script as root with vars\n"; out != want {
		t.Errorf("script output = %q, want %q", out, want)
	}
	if left, err := os.ReadDir(remote); err != nil || len(left) > 0 {
		t.Errorf("remote_folder holds %v (%v), want the script removed", left, err)
	}

	// A failing inline script is the provisioner's error.
	p := shell.New()
	cfg := &shell.Config{Inline: []string{"exit 7"}}
	if err := p.Run(context.Background(), cfg, &stages.Env{Comm: comm, Dir: dir, Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}); err == nil || !strings.Contains(err.Error(), "7") {
		t.Errorf("exit 7: err = %v, want the status", err)
	}
}

func TestFileProvisioner(t *testing.T) {
	comm, _ := connect(t)
	dir := t.TempDir()
	machine := t.TempDir()
	writeFile(t, filepath.Join(dir, "app.conf"), "conf", 0o640)
	makeTree(t, filepath.Join(dir, "tree"))
	want := tree(t, filepath.Join(dir, "tree"))

	provision(t, file.New(), &file.Config{Source: "app.conf", Destination: machine + "/"}, comm, dir)
	provision(t, file.New(), &file.Config{Content: "hello", Destination: machine + "/content"}, comm, dir)
	provision(t, file.New(), &file.Config{Source: "tree", Destination: machine + "/itself"}, comm, dir)
	provision(t, file.New(), &file.Config{Source: "tree/", Destination: machine + "/contents"}, comm, dir)

	if got := readFile(t, filepath.Join(machine, "app.conf")); got != "conf" {
		t.Errorf("app.conf = %q", got)
	}
	if fi, err := os.Stat(filepath.Join(machine, "app.conf")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("app.conf mode: %v, %v; want 0640", fi.Mode(), err)
	}
	if got := readFile(t, filepath.Join(machine, "content")); got != "hello" {
		t.Errorf("content = %q", got)
	}
	if d := cmp.Diff(want, tree(t, filepath.Join(machine, "itself", "tree"))); d != "" {
		t.Errorf("without slash (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want, tree(t, filepath.Join(machine, "contents"))); d != "" {
		t.Errorf("with slash (-want +got):\n%s", d)
	}

	provision(t, file.New(), &file.Config{Source: machine + "/content", Destination: "out/",
		Direction: file.Download}, comm, dir)
	if got := readFile(t, filepath.Join(dir, "out", "content")); got != "hello" {
		t.Errorf("downloaded = %q", got)
	}
}
