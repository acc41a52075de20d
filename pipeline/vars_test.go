package pipeline

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	ball "github.com/pipebuild/pipe/builders/all"
	"github.com/pipebuild/pipe/schema"
	sall "github.com/pipebuild/pipe/stages/all"
)

// writeFiles writes files (path relative to a new temporary directory) and
// returns the directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// testNow is the frozen time of every test run.
var testNow = time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("CEST", 2*3600))

// loadSrc writes src as pipe.yaml (with extra files) and loads it with the
// real registries and an environment holding only HOME.
func loadSrc(t *testing.T, src string, files map[string]string, mod func(*Options)) (*Pipeline, error) {
	t.Helper()
	if files == nil {
		files = map[string]string{}
	}
	files["pipe.yaml"] = src
	dir := writeFiles(t, files)
	opts := Options{File: filepath.Join(dir, "pipe.yaml"), Builders: ball.Registry(), Provisioners: sall.Registry(),
		Inputs: VarInputs{Environ: []string{"HOME=/home/tester"}}, Now: testNow}
	if mod != nil {
		mod(&opts)
	}
	return Load(opts)
}

// errLines returns err's lines with dir replaced by "DIR".
func errLines(err error, dir string) []string {
	if err == nil {
		return nil
	}
	s := err.Error()
	if dir != "" {
		s = strings.ReplaceAll(s, dir+string(filepath.Separator), "")
	}
	return strings.Split(s, "\n")
}

const varsFile = `variables:
  suite: {default: bookworm}
  n: {type: number, default: 1}
  on: {type: bool, default: false}
  l: {type: list, default: [x]}
  m: {type: map, default: {k: v}}
`

func parseVars(t *testing.T, src string) *schema.File {
	t.Helper()
	f, err := schema.Parse("pipe.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestResolveVarsPrecedence(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"one.yaml": "suite: file1\nn: 10\n",
		"two.yaml": "suite: file2\nl: [p, q]\n",
	})
	one, two := filepath.Join(dir, "one.yaml"), filepath.Join(dir, "two.yaml")
	defaults := map[string]any{"suite": "bookworm", "n": 1.0, "on": false, "l": []any{"x"}, "m": map[string]any{"k": "v"}}
	with := func(kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range defaults {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	for _, tc := range []struct {
		name string
		in   VarInputs
		want map[string]any
	}{
		{"defaults", VarInputs{Environ: []string{}}, defaults},
		{"env over default", VarInputs{Environ: []string{"PIPE_VAR_suite=env", "PIPE_VAR_n=2", "PIPE_VAR_on=true"}},
			with("suite", "env", "n", 2.0, "on", true)},
		{"undeclared env ignored", VarInputs{Environ: []string{"PIPE_VAR_sutie=x", "SUITE=y", "PIPE_VARsuite=z"}}, defaults},
		{"var file over env", VarInputs{Environ: []string{"PIPE_VAR_suite=env"}, VarFiles: []string{one}},
			with("suite", "file1", "n", 10.0)},
		{"later var file wins", VarInputs{Environ: []string{}, VarFiles: []string{one, two}},
			with("suite", "file2", "n", 10.0, "l", []any{"p", "q"})},
		{"var files in given order", VarInputs{Environ: []string{}, VarFiles: []string{two, one}},
			with("suite", "file1", "n", 10.0, "l", []any{"p", "q"})},
		{"--var over everything", VarInputs{Environ: []string{"PIPE_VAR_suite=env"}, VarFiles: []string{one, two}, Vars: []string{"suite=cli"}},
			with("suite", "cli", "n", 10.0, "l", []any{"p", "q"})},
		{"last --var wins", VarInputs{Environ: []string{}, Vars: []string{"suite=a", "suite=b"}}, with("suite", "b")},
		{"--var value with =", VarInputs{Environ: []string{}, Vars: []string{"suite=a=b"}}, with("suite", "a=b")},
		{"flow list and map", VarInputs{Environ: []string{}, Vars: []string{"l=[a, b]", "m={a: x, b: [1]}"}},
			with("l", []any{"a", "b"}, "m", map[string]any{"a": "x", "b": []any{uint64(1)}})},
		{"string stays text", VarInputs{Environ: []string{}, Vars: []string{"suite=[a, b]"}}, with("suite", "[a, b]")},
		{"env list", VarInputs{Environ: []string{"PIPE_VAR_l=[e]"}}, with("l", []any{"e"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveVars(parseVars(t, varsFile), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveVarsErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"bad.yaml":  "suite: x\nsutie: y\nn: many\n",
		"list.yaml": "- a\n",
	})
	for _, tc := range []struct {
		name string
		src  string
		in   VarInputs
		want []string
	}{
		{"undeclared --var", varsFile, VarInputs{Environ: []string{}, Vars: []string{"sutie=x"}},
			[]string{`--var sutie: undeclared variable "sutie" (did you mean "suite"?)`}},
		{"not name=value", varsFile, VarInputs{Environ: []string{}, Vars: []string{"suite"}},
			[]string{`--var: "suite" is not name=value`}},
		{"undeclared and mistyped in var file", varsFile, VarInputs{Environ: []string{}, VarFiles: []string{filepath.Join(dir, "bad.yaml")}},
			[]string{`bad.yaml:2:1: undeclared variable "sutie" (did you mean "suite"?)`, `bad.yaml:3:4: variable "n": expected a number, got "many"`}},
		{"var file not a mapping", varsFile, VarInputs{Environ: []string{}, VarFiles: []string{filepath.Join(dir, "list.yaml")}},
			[]string{`list.yaml:1:1: a var file is a mapping of variable names to values`}},
		{"wrong types from the command line", varsFile, VarInputs{Environ: []string{}, Vars: []string{"n=abc", "on=maybe", "l=x", "m=[1]"}},
			[]string{
				`--var l: variable "l": expected a list, got "x"`,
				`--var m: variable "m": expected a map, got a list`,
				`--var n: variable "n": expected a number, got "abc"`,
				`--var on: variable "on": expected a bool, got "maybe"`,
			}},
		{"wrong type from the environment", varsFile, VarInputs{Environ: []string{"PIPE_VAR_n=lots"}},
			[]string{`environment PIPE_VAR_n: variable "n": expected a number, got "lots"`}},
		{"bad default", "variables:\n  n: {type: number, default: abc}\n", VarInputs{Environ: []string{}},
			[]string{`pipe.yaml:2:3: variable "n": default: expected a number, got "abc"`}},
		{"unknown type", "variables:\n  n: {type: nubmer, default: 1}\n", VarInputs{Environ: []string{}},
			[]string{`pipe.yaml:2:3: variable "n": unknown type "nubmer" (one of string, number, bool, list, map) (did you mean "number"?)`}},
		{"all missing reported together", "variables:\n  a: {}\n  b: {type: list}\n  c: {default: x}\n  d: {type: bool}\n", VarInputs{Environ: []string{}},
			[]string{
				`pipe.yaml:2:3: variable "a" has no value: set it with --var a=…, a --var-file or PIPE_VAR_a`,
				`pipe.yaml:3:3: variable "b" has no value: set it with --var b=…, a --var-file or PIPE_VAR_b`,
				`pipe.yaml:5:3: variable "d" has no value: set it with --var d=…, a --var-file or PIPE_VAR_d`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := resolveVars(parseVars(t, tc.src), tc.in)
			if diff := cmp.Diff(tc.want, errLines(err, dir)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidation(t *testing.T) {
	src := `variables:
  count:
    type: number
    default: 0
    validation:
      - condition: vars.count > 0
        message: count must be positive
      - condition: vars.count < 10
  name:
    validation:
      - condition: len(vars.name) < 3
builders:
  h: {type: null}
stages:
  a:
    provision:
      - shell-local: {inline: ["true"]}
`
	for _, tc := range []struct {
		name string
		vars []string
		want []string
	}{
		{"ok", []string{"count=5", "name=ab"}, nil},
		{"both fail", []string{"count=50", "name=abcd"}, []string{
			`pipe.yaml:8:9: variable "count" = 50: validation failed: vars.count < 10`,
			`pipe.yaml:11:9: variable "name" = "abcd": validation failed: len(vars.name) < 3`,
		}},
		{"message", []string{"name=a"}, []string{`pipe.yaml:6:9: variable "count" = 0: count must be positive`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := loadSrc(t, src, nil, func(o *Options) { o.Inputs.Vars = tc.vars })
			dir := ""
			if p != nil {
				dir = p.Dir
			}
			got := errLines(err, dir)
			for i := range got {
				got[i] = got[i][strings.Index(got[i], "pipe.yaml"):]
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSensitiveValues(t *testing.T) {
	f := parseVars(t, `variables:
  token: {sensitive: true}
  keys: {type: list, sensitive: true}
  empty: {sensitive: true}
  plain: {}
`)
	vals := map[string]any{"token": "s3cr3t-token", "keys": []any{"k1", "key-two"}, "empty": "", "plain": "visible"}
	masked, all, warnings := sensitiveValues(f, vals)
	// "k1" is too short to mask (it would garble output and show itself by
	// the stars' pattern) but still counts for cache keys, with a warning.
	if diff := cmp.Diff([]string{`["k1","key-two"]`, "s3cr3t-token", "key-two"}, masked); diff != "" {
		t.Errorf("masked (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"s3cr3t-token", `["k1","key-two"]`, "k1", "key-two"}, all); diff != "" {
		t.Errorf("all (-want +got):\n%s", diff)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `"keys"`) {
		t.Errorf("warnings = %q, want one about keys", warnings)
	}
}

// A multi-line secret (a private key) is masked line by line, as output is
// streamed, and a sensitive map's values count as secrets too.
func TestSecretForms(t *testing.T) {
	got := secretForms("-----BEGIN KEY-----\nAAAABBBBCCCC\n-----END KEY-----\n")
	for _, want := range []string{"-----BEGIN KEY-----", "AAAABBBBCCCC", "-----END KEY-----"} {
		if !slices.Contains(got, want) {
			t.Errorf("secretForms(key) = %q, lacks %q", got, want)
		}
	}
	got = secretForms(map[string]any{"user": "MapSecretCCC", "n": []any{"deep-secret"}})
	for _, want := range []string{"MapSecretCCC", "deep-secret"} {
		if !slices.Contains(got, want) {
			t.Errorf("secretForms(map) = %q, lacks %q", got, want)
		}
	}
}

func TestRenderNumbers(t *testing.T) {
	for in, want := range map[float64]string{1000000: "1000000", 1000001: "1000001", 0.5: "0.5", -3: "-3"} {
		if got := render(in); got != want {
			t.Errorf("render(%v) = %q, want %q", in, got, want)
		}
	}
}
