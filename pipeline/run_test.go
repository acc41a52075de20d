package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pipebuild/pipe/builders"
	"github.com/pipebuild/pipe/pipeline/cache"
	"github.com/pipebuild/pipe/stages"
	sall "github.com/pipebuild/pipe/stages/all"
)

// fakeBuilder is a builder whose machines do nothing. It counts launches
// per node, tracks how many run at once, and can be told to fail a node, to
// block it until the run is cancelled, or which OutputID a node yields.
type fakeBuilder struct {
	mu          sync.Mutex
	launches    map[string]int
	undone      map[string]int
	running     int
	maxRunning  int
	fail        map[string]bool
	block       map[string]bool
	outputs     map[string]string
	started     chan string // receives the name of each blocking node launched
	launchDelay time.Duration
}

var _ builders.Builder = (*fakeBuilder)(nil)

func newFake() *fakeBuilder {
	return &fakeBuilder{launches: map[string]int{}, undone: map[string]int{}, fail: map[string]bool{},
		block: map[string]bool{}, outputs: map[string]string{}, started: make(chan string, 10), launchDelay: 20 * time.Millisecond}
}

func (*fakeBuilder) Type() string                 { return "fake" }
func (*fakeBuilder) NewConfig() any               { return &struct{}{} }
func (*fakeBuilder) NewSource() any               { return nil }
func (*fakeBuilder) Prepare(*builders.Spec) error { return nil }

func (*fakeBuilder) Key(spec *builders.Spec, k *cache.Key) error {
	k.Add("fake", "v1")
	return nil
}

func (f *fakeBuilder) Launch(ctx context.Context, spec *builders.Spec, undo *builders.Undo) (builders.Machine, error) {
	f.mu.Lock()
	f.launches[spec.Node]++
	f.running++
	f.maxRunning = max(f.maxRunning, f.running)
	fail, block, delay := f.fail[spec.Node], f.block[spec.Node], f.launchDelay
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.mu.Unlock()
	}()
	undo.Push("fake "+spec.Node, func(context.Context) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.undone[spec.Node]++
		return nil
	})
	if block {
		f.started <- spec.Node
		<-ctx.Done()
		return nil, ctx.Err()
	}
	time.Sleep(delay)
	if fail {
		return nil, errors.New("fake failure")
	}
	f.mu.Lock()
	out := f.outputs[spec.Node]
	f.mu.Unlock()
	if out == "" {
		out = "out-" + spec.Node
	}
	return &fakeMachine{art: &builders.Artifact{Builder: "fake", ID: "fake:" + spec.Node, OutputID: out}}, nil
}

func (f *fakeBuilder) count(node string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.launches[node]
}

type fakeMachine struct{ art *builders.Artifact }

func (*fakeMachine) Communicator() stages.Communicator { return nil }

func (m *fakeMachine) Capture(context.Context) (*builders.Artifact, error) { return m.art, nil }

// events collects a run's events.
type events struct {
	mu  sync.Mutex
	all []Event
}

func (e *events) Event(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

func loadFake(t *testing.T, fake *fakeBuilder, dir, src string, vars ...string) *Pipeline {
	t.Helper()
	path := filepath.Join(dir, "pipe.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(Options{File: path, Builders: builders.NewRegistry(fake), Provisioners: sall.Registry(),
		Inputs: VarInputs{Environ: []string{}, Vars: vars}, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type runRow struct{ Node, Status, Reason string }

func rows(res *Result) []runRow {
	var out []runRow
	for _, n := range res.Nodes {
		out = append(out, runRow{n.Node.Name, string(n.Status), n.Reason})
	}
	return out
}

const sixRoots = `builders:
  f: {type: fake}
stages:
  r1: {}
  r2: {}
  r3: {}
  r4: {}
  r5: {}
  r6: {}
`

func TestRunJobsLimit(t *testing.T) {
	fake := newFake()
	p := loadFake(t, fake, t.TempDir(), sixRoots)
	res, err := p.Run(context.Background(), openStore(t), RunOptions{Jobs: 2})
	if err != nil || res.Failed() {
		t.Fatalf("run: %v %+v", err, rows(res))
	}
	if fake.maxRunning != 2 {
		t.Errorf("max concurrent launches = %d, want 2 (Jobs)", fake.maxRunning)
	}
	for i := 1; i <= 6; i++ {
		if n := fake.count(fmt.Sprintf("r%d@f", i)); n != 1 {
			t.Errorf("r%d launched %d times", i, n)
		}
	}
}

const failSrc = `builders:
  f: {type: fake}
stages:
  r1: {}
  d1: {from: r1}
  d2: {from: d1}
  r2: {}
  r3: {}
`

func TestRunFailure(t *testing.T) {
	for _, tc := range []struct {
		name      string
		keepGoing bool
		want      []runRow
		launches  map[string]int
	}{
		{"stop", false, []runRow{
			{"r1@f", "failed", ""},
			{"d1@f", "blocked", "upstream r1@f failed"},
			{"d2@f", "blocked", "upstream r1@f failed"},
			{"r2@f", "not-run", "the run stopped before it started"},
			{"r3@f", "not-run", "the run stopped before it started"},
		}, map[string]int{"r1@f": 1, "r2@f": 0, "r3@f": 0, "d1@f": 0}},
		{"keep going", true, []runRow{
			{"r1@f", "failed", ""},
			{"d1@f", "blocked", "upstream r1@f failed"},
			{"d2@f", "blocked", "upstream r1@f failed"},
			{"r2@f", "built", "no previous build"},
			{"r3@f", "built", "no previous build"},
		}, map[string]int{"r1@f": 1, "r2@f": 1, "r3@f": 1, "d1@f": 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake()
			fake.fail["r1@f"] = true
			p := loadFake(t, fake, t.TempDir(), failSrc)
			res, err := p.Run(context.Background(), openStore(t), RunOptions{Jobs: 1, KeepGoing: tc.keepGoing})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, rows(res)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			for node, n := range tc.launches {
				if got := fake.count(node); got != n {
					t.Errorf("%s launched %d times, want %d", node, got, n)
				}
			}
			if !res.Failed() || fake.undone["r1@f"] != 1 {
				t.Errorf("Failed() = %v, undo of r1 ran %d times", res.Failed(), fake.undone["r1@f"])
			}
			var ne *NodeError
			if err := res.Nodes[0].Err; !errors.As(err, &ne) || !strings.Contains(err.Error(), "stage r1 on f (") || !strings.Contains(err.Error(), "fake failure") {
				t.Errorf("r1 error = %v", err)
			}
		})
	}
}

func TestRunCancel(t *testing.T) {
	fake := newFake()
	fake.block["r1@f"] = true
	p := loadFake(t, fake, t.TempDir(), failSrc)
	st := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-fake.started
		cancel()
	}()
	res, err := p.Run(ctx, st, RunOptions{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted {
		t.Error("result not interrupted")
	}
	want := []runRow{
		{"r1@f", "not-run", "interrupted"},
		{"d1@f", "blocked", "upstream r1@f was interrupted"},
		{"d2@f", "blocked", "upstream r1@f was interrupted"},
		{"r2@f", "not-run", "the run stopped before it started"},
		{"r3@f", "not-run", "the run stopped before it started"},
	}
	if diff := cmp.Diff(want, rows(res)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if fake.undone["r1@f"] != 1 {
		t.Errorf("undo pushed by Launch ran %d times, want 1", fake.undone["r1@f"])
	}
	if _, err := st.Latest(p.Name, "r1@f"); !errors.Is(err, cache.ErrNotFound) {
		t.Errorf("record of interrupted node: Latest err = %v, want ErrNotFound", err)
	}
	if fake.count("r2@f") != 0 {
		t.Error("r2 started after cancellation")
	}
}

const cutoffSrc = `variables:
  v: {default: one}
builders:
  f: {type: fake}
stages:
  base:
    provision:
      - shell-local: {inline: ["true ${{ vars.v }}"]}
  app:
    from: base
`

func TestRunEarlyCutoff(t *testing.T) {
	fake := newFake()
	dir := t.TempDir()
	st := openStore(t)
	run := func(opts RunOptions, vars ...string) *Result {
		t.Helper()
		p := loadFake(t, fake, dir, cutoffSrc, vars...)
		if opts.Jobs == 0 {
			opts.Jobs = 2
		}
		res, err := p.Run(context.Background(), st, opts)
		if err != nil || res.Failed() {
			t.Fatalf("run: %v %+v", err, rows(res))
		}
		return res
	}
	launches := func() []int { return []int{fake.count("base@f"), fake.count("app@f")} }

	first := run(RunOptions{})
	if diff := cmp.Diff([]int{1, 1}, launches()); diff != "" {
		t.Fatalf("first run launches (-want +got):\n%s", diff)
	}
	p := loadFake(t, fake, dir, cutoffSrc)
	rec, err := st.Latest(p.Name, "app@f")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Parent != "base@f" || rec.ParentAction != first.Nodes[0].ActionID || rec.OutputID != "out-app@f" {
		t.Errorf("app record: parent %q %q, output %q; want base@f %q", rec.Parent, rec.ParentAction, rec.OutputID, first.Nodes[0].ActionID)
	}
	if root, err := st.Latest(p.Name, "base@f"); err != nil || root.Parent != "" || root.ParentAction != "" {
		t.Errorf("base record: %+v, %v", root, err)
	}

	// base's key changes, but it yields the same output: app is reused.
	res := run(RunOptions{}, "v=two")
	if diff := cmp.Diff([]runRow{{"base@f", "built", "variable v changed"}, {"app@f", "cached", ""}}, rows(res)); diff != "" {
		t.Errorf("same output (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{2, 1}, launches()); diff != "" {
		t.Errorf("same output launches (-want +got):\n%s", diff)
	}

	// A different output rebuilds app.
	fake.outputs["base@f"] = "out-base-2"
	res = run(RunOptions{}, "v=three")
	if diff := cmp.Diff([]runRow{{"base@f", "built", "variable v changed"}, {"app@f", "built", "upstream image changed"}}, rows(res)); diff != "" {
		t.Errorf("new output (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{3, 2}, launches()); diff != "" {
		t.Errorf("new output launches (-want +got):\n%s", diff)
	}

	// --force forces a stage and its descendants.
	run(RunOptions{PlanOptions: PlanOptions{Force: []string{"base"}}}, "v=three")
	if diff := cmp.Diff([]int{4, 3}, launches()); diff != "" {
		t.Errorf("forced launches (-want +got):\n%s", diff)
	}
	// Nothing changed: everything is cached.
	res = run(RunOptions{}, "v=three")
	if diff := cmp.Diff([]runRow{{"base@f", "cached", ""}, {"app@f", "cached", ""}}, rows(res)); diff != "" {
		t.Errorf("cached (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{4, 3}, launches()); diff != "" {
		t.Errorf("cached launches (-want +got):\n%s", diff)
	}
}

const secretSrc = `variables:
  token: {sensitive: true, default: hunter2-s3cret}
builders:
  f: {type: fake}
stages:
  base:
    provision:
      - shell-local:
          inline: ["echo token=${{ vars.token }}", "echo done"]
          env: {TOKEN: "${{ vars.token }}"}
  bad:
    provision:
      - shell-local: {inline: ["echo failing with $TOKEN", "exit 3"], env: {TOKEN: "${{ vars.token }}"}}
`

func TestRunMasksSecrets(t *testing.T) {
	fake := newFake()
	p := loadFake(t, fake, t.TempDir(), secretSrc)
	st := openStore(t)
	ev := &events{}
	res, err := p.Run(context.Background(), st, RunOptions{Jobs: 1, KeepGoing: true, Reporter: ev})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]runRow{{"base@f", "built", "no previous build"}, {"bad@f", "failed", ""}}, rows(res)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	var logs []string
	for _, e := range ev.all {
		if e.Kind == "log" && e.Node == "base@f" {
			logs = append(logs, e.Line)
		}
		for _, s := range []string{e.Line, e.Error, e.Reason} {
			if strings.Contains(s, "hunter2-s3cret") {
				t.Errorf("event %+v shows the secret", e)
			}
		}
	}
	if diff := cmp.Diff([]string{"token=***", "done"}, logs); diff != "" {
		t.Errorf("base log lines (-want +got):\n%s", diff)
	}
	var failed string
	for _, e := range ev.all {
		if e.Kind == "failed" {
			failed = e.Error
		}
	}
	if !strings.Contains(failed, "failing with ***") {
		t.Errorf("failed event error %q lacks the masked output tail", failed)
	}
	var records int
	err = filepath.WalkDir(st.Dir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(path, "records") {
			records++
		}
		if strings.Contains(string(b), "hunter2-s3cret") {
			t.Errorf("%s holds the secret", path)
		}
		return nil
	})
	if err != nil || records != 1 {
		t.Errorf("walk store: %v, %d records, want 1", err, records)
	}
}

// publishingFake also publishes, logging through spec.Log as a real
// builder's outputs do.
type publishingFake struct{ *fakeBuilder }

func (publishingFake) Publish(_ context.Context, spec *builders.Spec, a *builders.Artifact) error {
	_, err := fmt.Fprintf(spec.Log, "published %s\n", a.ID)
	return err
}

// A reused artifact is published again, and its publisher has a log to
// write to (it once had none and crashed the run).
func TestRunPublishesBuiltAndCached(t *testing.T) {
	fake := publishingFake{newFake()}
	dir := t.TempDir()
	st := openStore(t)
	path := filepath.Join(dir, "pipe.yaml")
	if err := os.WriteFile(path, []byte("builders:\n  f: {type: fake}\nstages:\n  a: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, want := range []Status{StatusBuilt, StatusCached} {
		p, err := Load(Options{File: path, Builders: builders.NewRegistry(fake), Provisioners: sall.Registry(),
			Inputs: VarInputs{Environ: []string{}}, Now: testNow})
		if err != nil {
			t.Fatal(err)
		}
		var ev events
		res, err := p.Run(context.Background(), st, RunOptions{Reporter: &ev})
		if err != nil || res.Nodes[0].Status != want {
			t.Fatalf("run: %v, %+v; want %s", err, rows(res), want)
		}
		var logs []string
		for _, e := range ev.all {
			if e.Kind == "log" {
				logs = append(logs, e.Line)
			}
		}
		if diff := cmp.Diff([]string{"published fake:a@f"}, logs); diff != "" {
			t.Errorf("%s run logs (-want +got):\n%s", want, diff)
		}
	}
}
