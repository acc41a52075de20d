package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	ball "github.com/pipebuild/pipe/builders/all"
	"github.com/pipebuild/pipe/pipeline/cache"
	sall "github.com/pipebuild/pipe/stages/all"
)

func openStore(t *testing.T) *cache.Store {
	t.Helper()
	st, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// planDir writes a pipeline's files into a directory that stays, so that a
// test can change them between plans.
func planLoad(t *testing.T, dir string, vars ...string) *Pipeline {
	t.Helper()
	p, err := Load(Options{File: filepath.Join(dir, "pipe.yaml"), Builders: ball.Registry(), Provisioners: sall.Registry(),
		Inputs: VarInputs{Environ: []string{}, Vars: vars}, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type planRow struct{ Node, Status, Reason string }

func plan(t *testing.T, p *Pipeline, st *cache.Store, opts PlanOptions) []planRow {
	t.Helper()
	ds, err := p.Plan(context.Background(), st, opts)
	if err != nil {
		t.Fatal(err)
	}
	var out []planRow
	for _, d := range ds {
		out = append(out, planRow{d.Node, string(d.Status), d.Reason})
	}
	return out
}

const planSrc = `variables:
  v: {default: one}
  gate: {default: go}
builders:
  h: {type: null}
stages:
  base:
    provision:
      - shell-local:
          scripts: [scripts/x.sh]
          env: {V: "${{ vars.v }}"}
    cache: {max_age: 1h}
  app:
    from: base
    provision:
      - shell-local: {inline: ["echo app > app.txt"]}
  opt:
    from: base
    when: ${{ vars.gate == "go" }}
    provision:
      - shell-local: {inline: ["true"]}
  leaf:
    from: opt
`

func TestPlan(t *testing.T) {
	dir := writeFiles(t, map[string]string{"pipe.yaml": planSrc, "scripts/x.sh": "echo x > x.txt\n"})
	st := openStore(t)
	p := planLoad(t, dir)

	fresh := []planRow{
		{"base@h", "build", "no previous build"},
		{"app@h", "build", "upstream base@h will rebuild"},
		{"opt@h", "build", "upstream base@h will rebuild"},
		{"leaf@h", "build", "upstream opt@h will rebuild"},
	}
	if diff := cmp.Diff(fresh, plan(t, p, st, PlanOptions{})); diff != "" {
		t.Fatalf("fresh plan (-want +got):\n%s", diff)
	}
	res, err := p.Run(context.Background(), st, RunOptions{Jobs: 2})
	if err != nil || res.Failed() {
		t.Fatalf("run: %v %+v", err, res.Nodes)
	}
	cached := []planRow{{"base@h", "cached", ""}, {"app@h", "cached", ""}, {"opt@h", "cached", ""}, {"leaf@h", "cached", ""}}
	if diff := cmp.Diff(cached, plan(t, p, st, PlanOptions{})); diff != "" {
		t.Errorf("plan after run (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name string
		vars []string
		opts PlanOptions
		want []planRow
	}{
		{"force", nil, PlanOptions{Force: []string{"opt"}}, []planRow{
			{"base@h", "cached", ""}, {"app@h", "cached", ""}, {"opt@h", "build", "forced"}, {"leaf@h", "build", "forced"}}},
		{"no cache", nil, PlanOptions{NoCache: true}, []planRow{
			{"base@h", "build", "forced"}, {"app@h", "build", "upstream base@h will rebuild"},
			{"opt@h", "build", "upstream base@h will rebuild"}, {"leaf@h", "build", "upstream opt@h will rebuild"}}},
		{"variable changed", []string{"v=two"}, PlanOptions{}, []planRow{
			{"base@h", "build", "variable v changed"}, {"app@h", "build", "upstream base@h will rebuild"},
			{"opt@h", "build", "upstream base@h will rebuild"}, {"leaf@h", "build", "upstream opt@h will rebuild"}}},
		{"when false", []string{"gate=stop"}, PlanOptions{}, []planRow{
			{"base@h", "cached", ""}, {"app@h", "cached", ""}, {"opt@h", "skip", "when: is false"}, {"leaf@h", "skip", "upstream opt@h is skipped"}}},
		{"expired", nil, PlanOptions{Now: time.Now().Add(3 * time.Hour)}, []planRow{
			{"base@h", "build", "expired (max_age 1h, built 3h ago)"}, {"app@h", "build", "upstream base@h will rebuild"},
			{"opt@h", "build", "upstream base@h will rebuild"}, {"leaf@h", "build", "upstream opt@h will rebuild"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, plan(t, planLoad(t, dir, tc.vars...), st, tc.opts)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	t.Run("script changed", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(dir, "scripts/x.sh"), []byte("echo y > x.txt\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		got := plan(t, planLoad(t, dir), st, PlanOptions{})
		if diff := cmp.Diff(planRow{"base@h", "build", "scripts/x.sh changed"}, got[0]); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("unknown --force", func(t *testing.T) {
		_, err := p.Plan(context.Background(), st, PlanOptions{Force: []string{"bsae"}})
		if want := `--force: unknown stage "bsae" (did you mean "base"?)`; err == nil || err.Error() != want {
			t.Errorf("err = %v, want %s", err, want)
		}
	})
}

func TestExplain(t *testing.T) {
	l := func(kv ...string) []cache.Line {
		var out []cache.Line
		for i := 0; i < len(kv); i += 2 {
			out = append(out, cache.Line{Name: kv[i], Value: kv[i+1]})
		}
		return out
	}
	file := "provision[0].shell-local.file scripts/x.sh"
	for _, tc := range []struct {
		name             string
		old, cur         []cache.Line
		oldVars, curVars map[string]string
		want             string
	}{
		{"nothing differs", l("a", "1"), l("a", "1"), nil, nil, "no record for this key"},
		{"line changed", l("builder.type", "null", "provision[0].shell-local.inline[0]", "a"), l("builder.type", "null", "provision[0].shell-local.inline[0]", "b"), nil, nil,
			"provision[0].shell-local.inline[0] changed"},
		{"added and removed", l("a", "1", "b", "2"), l("a", "1", "c", "3"), nil, nil, "c added, b removed"},
		{"file named by its path", l(file, "sha256:1"), l(file, "sha256:2"), nil, nil, "scripts/x.sh changed"},
		{"file added", nil, l(file, "sha256:2"), nil, nil, "scripts/x.sh added"},
		{"upstream", l("upstream", "sha256:1"), l("upstream", "sha256:2"), nil, nil, "upstream image changed"},
		{"variable explains its lines", l("env.V", "one", file, "1", "upstream", "u1"), l("env.V", "two", file, "2", "upstream", "u2"),
			map[string]string{"v": "h1", "w": "same"}, map[string]string{"v": "h2", "w": "same"},
			"variable v changed, scripts/x.sh changed, upstream image changed"},
		{"new variable is no change", l("a", "1"), l("a", "1"), map[string]string{}, map[string]string{"v": "h"}, "no record for this key"},
		{"variables sorted", nil, nil, map[string]string{"b": "1", "a": "1"}, map[string]string{"b": "2", "a": "2"},
			"variable a changed, variable b changed"},
		{"more than three", l("a", "1", "b", "1", "c", "1", "d", "1", "e", "1"), l("a", "2", "b", "2", "c", "2", "d", "2", "e", "2"), nil, nil,
			"a changed, b changed, c changed (+2 more)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Explain(tc.old, tc.cur, tc.oldVars, tc.curVars); got != tc.want {
				t.Errorf("Explain = %q, want %q", got, tc.want)
			}
		})
	}
}
