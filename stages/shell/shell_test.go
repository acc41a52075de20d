package shell_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pipebuild/pipe/builders"
	"github.com/pipebuild/pipe/builders/null"
	"github.com/pipebuild/pipe/pipeline/cache"
	"github.com/pipebuild/pipe/stages"
	"github.com/pipebuild/pipe/stages/shell"
)

// newEnv returns an env whose Comm is a real null machine, and that
// machine's tree on the host. The pipeline dir holds files.
func newEnv(t *testing.T, files map[string]string) (*stages.Env, string) {
	t.Helper()
	undo := &builders.Undo{}
	t.Cleanup(func() { undo.Run(context.Background()) })
	m, err := null.New().Launch(context.Background(),
		&builders.Spec{WorkDir: t.TempDir(), StoreDir: t.TempDir()}, undo)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	// No HostDir: the shell provisioner must work through Comm alone.
	return &stages.Env{Node: "app@null", BuilderType: "null", Dir: dir, Comm: m.Communicator(),
		Stdout: &out, Stderr: &out}, m.(builders.HostDirMachine).HostDir()
}

// run runs c with remote_folder "." unless set: the null machine runs
// commands on the host, where only a relative folder names the same place
// for Upload and for Run.
func run(t *testing.T, c *shell.Config, env *stages.Env) error {
	t.Helper()
	if c.RemoteFolder == "" {
		c.RemoteFolder = "."
	}
	p := shell.New()
	if err := p.Prepare(c, env.Dir); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return p.Run(context.Background(), c, env)
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const counter = "#!/bin/sh\nn=$(cat count 2>/dev/null || echo 0)\necho $((n+1)) > count\n[ \"$n\" -ge 1 ]\n"

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     shell.Config
		files   map[string]string
		wantErr string
		want    map[string]string // files in the machine after the run
	}{
		{name: "inline with PIPE vars", cfg: shell.Config{Inline: []string{`echo "$PIPE_NODE $PIPE_BUILDER_TYPE" > out`}},
			want: map[string]string{"out": "app@null null\n"}},
		{name: "inline failing command fails", cfg: shell.Config{Inline: []string{"false", "touch after"}},
			wantErr: "script inline: exit status 1 (valid: [0])"},
		{name: "own shebang", cfg: shell.Config{Inline: []string{"#!/bin/sh", "false", "echo went on > out"}},
			want: map[string]string{"out": "went on\n"}},
		{name: "inline_shebang", cfg: shell.Config{Inline: []string{"false", "echo went on > out"}, InlineShebang: "/bin/sh"},
			want: map[string]string{"out": "went on\n"}},
		{name: "valid exit code", cfg: shell.Config{Inline: []string{"exit 3"}, ValidExitCodes: []int{3}}},
		{name: "invalid exit code", cfg: shell.Config{Inline: []string{"exit 4"}, ValidExitCodes: []int{3}},
			wantErr: "exit status 4 (valid: [3])"},
		{name: "scripts in order", files: map[string]string{"a.sh": "echo a >> log\n", "b.sh": "echo b >> log\n"},
			cfg: shell.Config{Scripts: []string{"a.sh", "b.sh"}}, want: map[string]string{"log": "a\nb\n"}},
		{name: "retry until success", files: map[string]string{"c.sh": counter},
			cfg: shell.Config{Script: "c.sh", MaxRetries: 1}, want: map[string]string{"count": "2\n"}},
		{name: "no retries", files: map[string]string{"c.sh": counter},
			cfg: shell.Config{Script: "c.sh"}, wantErr: "script c.sh: exit status 1"},
		{name: "missing remote folder", cfg: shell.Config{Inline: []string{"true"}, RemoteFolder: "sub/"},
			wantErr: "upload to sub/pipe-script-0-"},
		{name: "execute_command", cfg: shell.Config{Inline: []string{"true"}, EnvironmentVars: []string{"X=1"},
			ExecuteCommand: "echo {{ .Vars }} > cmd"}, want: map[string]string{"cmd": "PIPE_NODE=app@null PIPE_BUILDER_TYPE=null X=1\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, root := newEnv(t, tc.files)
			err := run(t, &tc.cfg, env)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Run err = %v, want %q\noutput:\n%s", err, tc.wantErr, env.Stdout)
			}
			for name, content := range tc.want {
				if got := read(t, filepath.Join(root, name)); got != content {
					t.Errorf("%s = %q, want %q", name, got, content)
				}
			}
			// Scripts are removed after they ran, whatever the outcome.
			if left, _ := filepath.Glob(filepath.Join(root, "pipe-script-*")); len(left) > 0 {
				t.Errorf("scripts left behind: %v", left)
			}
		})
	}
}

func TestEnvQuoting(t *testing.T) {
	env, root := newEnv(t, nil)
	values := map[string]string{"A": `it's "quoted"  with  spaces`, "B": "$HOME `id` \\n ;|&", "C": "'"}
	c := &shell.Config{
		Inline: []string{`printf '[%s]\n' "$A" "$B" "$C" "$D" > out`},
		Env:    values, EnvironmentVars: []string{"D=a b'c"},
	}
	if err := run(t, c, env); err != nil {
		t.Fatal(err)
	}
	want := "[" + values["A"] + "]\n[" + values["B"] + "]\n[']\n[a b'c]\n"
	if diff := cmp.Diff(want, read(t, filepath.Join(root, "out"))); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
}

func TestTimeoutKillsProcesses(t *testing.T) {
	env, root := newEnv(t, nil)
	c := &shell.Config{Inline: []string{"sleep 60 & echo $! > pid", "wait"}, Timeout: stages.Duration(300 * time.Millisecond)}
	err := run(t, c, env)
	if err == nil || !strings.Contains(err.Error(), "timed out after 300ms") {
		t.Fatalf("Run err = %v, want a timeout", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(read(t, filepath.Join(root, "pid"))))
	for range 200 {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("sleep (pid %d) still running after the timeout", pid)
}

func TestKey(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "s.sh"), []byte("echo 1\n"), 0o644)
	lines := func(c shell.Config) string {
		k := cache.NewKey([]byte("secret"), nil)
		if err := shell.New().Key(&c, dir, k); err != nil {
			t.Fatal(err)
		}
		return cache.Format(k.Lines())
	}
	base := shell.Config{Scripts: []string{"s.sh"}, Env: map[string]string{"A": "1"}}
	before := lines(base)
	timed := base
	timed.Timeout, timed.MaxRetries = stages.Duration(time.Hour), 5
	if diff := cmp.Diff(before, lines(timed)); diff != "" {
		t.Errorf("timeout and max_retries changed the key (-before +after):\n%s", diff)
	}
	for name, change := range map[string]func(c *shell.Config){
		"execute_command":  func(c *shell.Config) { c.ExecuteCommand = "sudo {{.Path}}" },
		"env":              func(c *shell.Config) { c.Env = map[string]string{"A": "2"} },
		"environment_vars": func(c *shell.Config) { c.EnvironmentVars = []string{"B=1"} },
		"inline_shebang":   func(c *shell.Config) { c.InlineShebang = "/bin/bash -e" },
	} {
		c := base
		change(&c)
		if lines(c) == before {
			t.Errorf("%s did not change the key", name)
		}
	}
	os.WriteFile(filepath.Join(dir, "s.sh"), []byte("echo 2\n"), 0o644)
	if lines(base) == before {
		t.Errorf("changing the script's bytes did not change the key:\n%s", before)
	}
}
