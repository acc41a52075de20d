package schema

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want []string
	}{
		{name: "unknown stage key", src: `
stages:
  base:
    provison:
      - shell: {inline: [true]}
`, want: []string{`p.yaml:3:5: unknown key "provison" (did you mean "provision"?)`}},
		{name: "unknown top-level key", src: "stagess: {}\n",
			want: []string{`p.yaml:1:1: unknown key "stagess" (did you mean "stages"?)`}},
		{name: "unknown variable key", src: "variables:\n  v:\n    tpye: string\n",
			want: []string{`p.yaml:3:5: unknown key "tpye" (did you mean "type"?)`}},
		{name: "several problems, all listed in order", src: `
builders:
  b:
    type: null
stages:
  a:
    buildres: [b]
    cache:
      max_age: soon
      maxage: 1d
  c:
    from: a
    provision: {}
variables:
  v:
    sensitive: maybe
`, want: []string{
			`p.yaml:6:5: unknown key "buildres" (did you mean "builders"?)`,
			`p.yaml:8:16: invalid duration "soon" (use a number and a unit: 90s, 30m, 168h, 7d)`,
			`p.yaml:9:7: unknown key "maxage" (did you mean "max_age"?)`,
			`p.yaml:12:16: expected a list, got a mapping`,
			`p.yaml:15:16: expected a boolean, got "maybe"`,
		}},
		{name: "syntax error", src: "stages:\n  a: [\n", want: []string{`p.yaml:2:6: sequence end token ']' not found`}},
		{name: "tab indent", src: "stages:\n\ta: {}\n", want: []string{`p.yaml:2:1: found character '	' that cannot start any token`}},
		{name: "duplicate stage", src: "stages:\n  a: {}\n  a: {}\n", want: []string{`p.yaml:3:3: mapping key "a" already defined at [2:3]`}},
		{name: "empty file", src: "", want: []string{`p.yaml:1:1: empty pipeline file`}},
		{name: "provisioner with two keys", src: `
stages:
  a:
    provision:
      - shell: {inline: [true]}
        file: {source: x, destination: y}
`, want: []string{"p.yaml:4:9: a provisioner is a mapping with one key, its type (for example `- shell: {inline: [...]}`)"}},
		{name: "provisioner as a bare word", src: "stages:\n  a:\n    provision:\n      - shell\n",
			want: []string{"p.yaml:4:9: a provisioner is a mapping with one key, its type (for example `- shell: {inline: [...]}`)"}},
		{name: "builder without type, flow", src: "builders:\n  b: {source: {dir: x}}\n",
			want: []string{`p.yaml:2:6: builder has no type`}},
		{name: "builder without type, block", src: "builders:\n  b:\n    source:\n      dir: x\n",
			want: []string{`p.yaml:3:5: builder has no type`}},
		{name: "builder as a scalar", src: "builders:\n  b: null-ish\n",
			want: []string{`p.yaml:2:6: expected a builder mapping with a type, got "null-ish"`}},
		{name: "expression in a default", src: "variables:\n  v:\n    default: ${{ env.X }}\n",
			want: []string{`p.yaml:3:14: expressions are not allowed here`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(strings.TrimPrefix(tc.src, "\n")))
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseFile(t *testing.T) {
	src := `name: demo
variables:
  suite:
    default: bookworm
    sensitive: true
    validation:
      - condition: vars.suite != ""
        message: suite must be set
  n:
    type: number
builders:
  host:
    type: null
    source: {dir: src}
stages:
  base:
    provision:
      - shell-local:
          inline: ["echo ${{ vars.suite }}"]
    cache:
      max_age: 7d
  app:
    from: base
    when: ${{ vars.n > 1 }}
`
	f, err := Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"suite", "n"}, f.Variables.Keys); diff != "" {
		t.Errorf("variable order (-want +got):\n%s", diff)
	}
	suite := f.Variables.Values["suite"]
	if !suite.HasDefault || suite.Default != "bookworm" || !suite.Sensitive || len(suite.Validation) != 1 ||
		suite.Validation[0].Message != "suite must be set" || suite.Validation[0].Condition != `vars.suite != ""` {
		t.Errorf("suite = %+v", suite)
	}
	if n := f.Variables.Values["n"]; n.HasDefault || n.Type != "number" {
		t.Errorf("n = %+v", n)
	}
	b := f.Builders.Values["host"]
	if b.Type != "null" || b.TypePos != (Pos{File: "p.yaml", Line: 13, Col: 11}) || b.Source.IsZero() {
		t.Errorf("builder = %+v", b)
	}
	if keys, pos := b.Config.Keys(); !cmp.Equal(keys, []string{"type", "source"}) ||
		!cmp.Equal(pos, []Pos{{"p.yaml", 13, 5}, {"p.yaml", 14, 5}}) {
		t.Errorf("builder config keys = %v %v", keys, pos)
	}
	if diff := cmp.Diff([]string{"base", "app"}, f.Stages.Keys); diff != "" {
		t.Errorf("stage order (-want +got):\n%s", diff)
	}
	if got, want := f.Stages.Pos["app"], (Pos{File: "p.yaml", Line: 22, Col: 3}); got != want {
		t.Errorf("app position = %v, want %v", got, want)
	}
	base := f.Stages.Values["base"]
	if len(base.Provision) != 1 || base.Provision[0].Type != "shell-local" ||
		base.Provision[0].Pos != (Pos{File: "p.yaml", Line: 18, Col: 9}) {
		t.Errorf("base provision = %+v", base.Provision)
	}
	if time.Duration(base.Cache.MaxAge) != 7*24*time.Hour {
		t.Errorf("max_age = %v", base.Cache.MaxAge)
	}
	app := f.Stages.Values["app"]
	if app.From != "base" || app.When.IsZero() || app.KeyPos["from"] != (Pos{File: "p.yaml", Line: 23, Col: 11}) {
		t.Errorf("app = %+v", app)
	}
}

// TestNodePositions checks that a named entry is positioned at its name, and
// a block mapping at its first key, as a compiler would point at them, not
// at a colon.
func TestNodePositions(t *testing.T) {
	src := "stages:\n  base:\n    provision: []\n"
	f, err := Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.Stages.Values["base"].Pos, (Pos{File: "p.yaml", Line: 2, Col: 3}); got != want {
		t.Errorf("stage position = %v, want %v", got, want)
	}
	if got, want := f.Pos, (Pos{File: "p.yaml", Line: 1, Col: 1}); got != want {
		t.Errorf("file position = %v, want %v", got, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pipe.yaml")
	if err := os.WriteFile(path, []byte("stages:\n  a: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path)
	if err != nil || f.Path != path || f.Stages.Len() != 1 {
		t.Fatalf("Load = %+v, %v", f, err)
	}
	_, err = Load(filepath.Join(dir, "missing.yaml"))
	want := filepath.Join(dir, "missing.yaml") + ": cannot read pipeline file: no such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("Load(missing) = %v, want %q", err, want)
	}
}

// TestValidationCondition checks that a validation condition is kept as
// written, ${{ }} included, for the pipeline to evaluate: it is the
// documented form, so the strict decoder must not reject it as an
// expression where none is allowed.
func TestValidationCondition(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"${{ len(vars.suite) > 0 }}", "${{ len(vars.suite) > 0 }}"},
		{"len(vars.suite) > 0", "len(vars.suite) > 0"},
	} {
		src := "variables:\n  suite:\n    validation:\n      - condition: " + tc.src + "\n        message: empty\n"
		f, err := Parse("p.yaml", []byte(src))
		if err != nil {
			t.Errorf("condition %q: %v", tc.src, err)
			continue
		}
		if got := string(f.Variables.Values["suite"].Validation[0].Condition); got != tc.want {
			t.Errorf("condition = %q, want %q", got, tc.want)
		}
	}
}

// An alias stands for its anchor's value (goccy/go-yaml's AST keeps only
// the name, which once became the value); merge keys are refused.
func TestAliases(t *testing.T) {
	src := "variables:\n  v: { default: &v hello }\n  w: { default: *v }\nstages:\n  a:\n    provision: &p\n      - shell: { inline: [x] }\n  b:\n    provision: *p\n"
	f, err := Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Variables.Values["w"].Default; got != "hello" {
		t.Errorf("w default = %v, want hello", got)
	}
	if got := f.Stages.Values["b"].Provision; len(got) != 1 || got[0].Type != "shell" {
		t.Errorf("b provision = %+v, want one shell step", got)
	}
	for src, want := range map[string]string{
		"a: &x {k: 1}\nb:\n  <<: *x\n": "p.yaml:3:3: merge keys (<<) are not supported",
		"name: *nothing\n":             "p.yaml:1:7: alias *nothing names no anchor defined before it",
	} {
		if _, err := Parse("p.yaml", []byte(src)); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", src, err, want)
		}
	}
}
