package shelllocal_test

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
	"github.com/pipebuild/pipe/stages/shelllocal"
)

// newEnv returns an env whose HostDir is a real null machine's tree, and
// the pipeline dir holding files (name → content, scripts executable).
func newEnv(t *testing.T, files map[string]string) (*stages.Env, *bytes.Buffer) {
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
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	return &stages.Env{Node: "app@null", BuilderType: "null", Dir: dir, Comm: m.Communicator(),
		HostDir: m.(builders.HostDirMachine).HostDir(), Stdout: &out, Stderr: &out}, &out
}

func run(t *testing.T, c *shelllocal.Config, env *stages.Env) error {
	t.Helper()
	p := shelllocal.New()
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

// counter fails the first time it runs in a directory, then succeeds.
const counter = "#!/bin/sh\nn=$(cat count 2>/dev/null || echo 0)\necho $((n+1)) > count\n[ \"$n\" -ge 1 ]\n"

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     shelllocal.Config
		files   map[string]string
		wantErr string // substring; "" means success
		check   func(t *testing.T, root string)
	}{
		{name: "inline runs in HostDir with PIPE vars",
			cfg: shelllocal.Config{Inline: []string{`echo "$PIPE_NODE $PIPE_BUILDER_TYPE" > out`}},
			check: func(t *testing.T, root string) {
				if got := read(t, filepath.Join(root, "out")); got != "app@null null\n" {
					t.Errorf("out = %q", got)
				}
			}},
		{name: "inline failing command fails",
			cfg:     shelllocal.Config{Inline: []string{"false", "touch after"}},
			wantErr: "script inline: exit status 1 (valid: [0])",
			check: func(t *testing.T, root string) {
				if _, err := os.Stat(filepath.Join(root, "after")); err == nil {
					t.Error("command after the failure ran")
				}
			}},
		{name: "valid exit code", cfg: shelllocal.Config{Inline: []string{"exit 3"}, ValidExitCodes: []int{0, 3}}},
		{name: "invalid exit code", cfg: shelllocal.Config{Inline: []string{"exit 4"}, ValidExitCodes: []int{3}},
			wantErr: "exit status 4 (valid: [3])"},
		{name: "scripts in order", files: map[string]string{"a.sh": "#!/bin/sh\necho a >> log\n", "b.sh": "#!/bin/sh\necho b >> log\n"},
			cfg: shelllocal.Config{Scripts: []string{"a.sh", "b.sh"}},
			check: func(t *testing.T, root string) {
				if got := read(t, filepath.Join(root, "log")); got != "a\nb\n" {
					t.Errorf("log = %q", got)
				}
			}},
		{name: "retry until success", files: map[string]string{"c.sh": counter},
			cfg: shelllocal.Config{Script: "c.sh", MaxRetries: 2},
			check: func(t *testing.T, root string) {
				if got := read(t, filepath.Join(root, "count")); got != "2\n" {
					t.Errorf("runs = %q, want 2", got)
				}
			}},
		{name: "no retries", files: map[string]string{"c.sh": counter},
			cfg: shelllocal.Config{Script: "c.sh"}, wantErr: "script c.sh: exit status 1"},
		{name: "execute_command", cfg: shelllocal.Config{Inline: []string{"true"},
			ExecuteCommand: []string{"/bin/sh", "-c", "echo {{.Vars}} > cmd"}, EnvironmentVars: []string{"X=1"}},
			check: func(t *testing.T, root string) {
				if got := read(t, filepath.Join(root, "cmd")); got != "PIPE_NODE=app@null PIPE_BUILDER_TYPE=null X=1\n" {
					t.Errorf("cmd = %q", got)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, out := newEnv(t, tc.files)
			err := run(t, &tc.cfg, env)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Run err = %v, want %q\noutput:\n%s", err, tc.wantErr, out)
			}
			if tc.check != nil {
				tc.check(t, env.HostDir)
			}
		})
	}
}

func TestEnvQuoting(t *testing.T) {
	env, _ := newEnv(t, nil)
	values := map[string]string{"A": `it's "quoted"  with  spaces`, "B": "$HOME `id` \\n ;", "C": ""}
	c := &shelllocal.Config{
		Inline:          []string{`printf '[%s]\n' "$A" "$B" "$C" "$D" > out`},
		Env:             values,
		EnvironmentVars: []string{"D=x'y=z"},
	}
	if err := run(t, c, env); err != nil {
		t.Fatal(err)
	}
	want := "[" + values["A"] + "]\n[" + values["B"] + "]\n[]\n[x'y=z]\n"
	if diff := cmp.Diff(want, read(t, filepath.Join(env.HostDir, "out"))); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
}

func TestTimeoutKillsProcesses(t *testing.T) {
	env, _ := newEnv(t, nil)
	c := &shelllocal.Config{
		Inline:  []string{"sleep 60 & echo $! > pid", "wait"},
		Timeout: stages.Duration(300 * time.Millisecond),
	}
	err := run(t, c, env)
	if err == nil || !strings.Contains(err.Error(), "timed out after 300ms") {
		t.Fatalf("Run err = %v, want a timeout", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(read(t, filepath.Join(env.HostDir, "pid"))))
	for range 200 {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("sleep (pid %d) still running after the timeout", pid)
}

func TestPrepare(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  shelllocal.Config
		want string
	}{
		{"none", shelllocal.Config{}, "exactly one of inline, script or scripts"},
		{"two", shelllocal.Config{Inline: []string{"true"}, Script: "x.sh"}, "exactly one of"},
		{"missing script", shelllocal.Config{Script: "x.sh"}, "script x.sh"},
		{"bad env", shelllocal.Config{Inline: []string{"true"}, EnvironmentVars: []string{"NOEQUALS"}}, `"NOEQUALS" is not NAME=VALUE`},
		{"bad env name", shelllocal.Config{Inline: []string{"true"}, Env: map[string]string{"A-B": "1"}}, `"A-B" is not a valid variable name`},
	} {
		err := shelllocal.New().Prepare(&tc.cfg, dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Prepare err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestKey(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "s.sh"), []byte("echo 1\n"), 0o755)
	lines := func(c shelllocal.Config) string {
		k := cache.NewKey([]byte("secret"), nil)
		if err := shelllocal.New().Key(&c, dir, k); err != nil {
			t.Fatal(err)
		}
		return cache.Format(k.Lines())
	}
	base := shelllocal.Config{Script: "s.sh", Env: map[string]string{"B": "2", "A": "1"}}
	before := lines(base)
	if !strings.Contains(before, "env.A 1\nenv.B 2\n") {
		t.Errorf("env lines not sorted:\n%s", before)
	}
	timed := base
	timed.Timeout, timed.MaxRetries = stages.Duration(time.Minute), 3
	if diff := cmp.Diff(before, lines(timed)); diff != "" {
		t.Errorf("timeout and max_retries changed the key (-before +after):\n%s", diff)
	}
	os.WriteFile(filepath.Join(dir, "s.sh"), []byte("echo 2\n"), 0o755)
	if lines(base) == before {
		t.Errorf("changing the script's bytes did not change the key:\n%s", before)
	}
	codes := base
	codes.ValidExitCodes = []int{0, 1}
	if lines(codes) == lines(base) {
		t.Error("valid_exit_codes did not change the key")
	}
}

// A script checked out without its x bit still runs: pipe runs an
// executable copy, as Packer does.
func TestScriptWithoutExecBit(t *testing.T) {
	env, out := newEnv(t, nil)
	if err := os.WriteFile(filepath.Join(env.Dir, "plain.sh"), []byte("#!/bin/sh\necho ran > ran\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(t, &shelllocal.Config{Script: "plain.sh"}, env); err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	if got := read(t, filepath.Join(env.HostDir, "ran")); got != "ran\n" {
		t.Errorf("ran = %q", got)
	}
}
