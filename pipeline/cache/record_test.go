package cache

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// newRecord returns a valid record whose ActionID is the sum of one line.
func newRecord(pipeline, node, line string, created time.Time) *Record {
	lines := []Line{{"version", Version}, {"builder.type", line}}
	return &Record{
		Pipeline: pipeline,
		Node:     node,
		ActionID: Sum(lines),
		OutputID: "sha256:" + strings.Repeat("0", 64),
		Builder:  "local",
		Lines:    lines,
		Created:  created,
	}
}

func put(t *testing.T, s *Store, recs ...*Record) {
	t.Helper()
	for _, r := range recs {
		if err := s.Put(r); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPutGet(t *testing.T) {
	s, warnings := openStore(t)
	r := newRecord("web", "app@local", "a", testTime)
	r.Artifact = json.RawMessage(`{"dir":"/x"}`)
	r.Parent, r.ParentAction = "base@local", Sum(nil)
	r.Vars = map[string]string{"region": "hmac:00"}
	r.Duration = 90 * time.Second
	put(t, s, r)

	got, err := s.Get("web", "app@local", r.ActionID)
	if err != nil {
		t.Fatal(err)
	}
	// Get leaves the key lines out; Latest has them.
	want := *r
	want.Lines = nil
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("Get (-put +got):\n%s", diff)
	}
	latest, err := s.Latest("web", "app@local")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, latest); diff != "" {
		t.Errorf("Latest (-put +got):\n%s", diff)
	}
	hexID := strings.TrimPrefix(string(r.ActionID), "sha256:")
	if _, err := os.Stat(filepath.Join(s.Dir(), "records/web/app@local", hexID+".json")); err != nil {
		t.Errorf("record not at its documented path: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(s.Dir(), "records/web/app@local"))
	if len(entries) != 1 {
		t.Errorf("record dir has %d entries, want only the record", len(entries))
	}

	other := newRecord("web", "app@local", "b", testTime).ActionID
	if _, err := s.Get("web", "app@local", other); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a missing record: err = %v, want ErrNotFound", err)
	}
	if len(*warnings) != 0 {
		t.Errorf("warnings: %q", *warnings)
	}

	noCreated := newRecord("web", "app@local", "c", time.Time{})
	put(t, s, noCreated)
	if noCreated.Created.IsZero() {
		t.Error("Put left Created zero")
	}
}

func TestPutInvalid(t *testing.T) {
	s, _ := openStore(t)
	tests := []struct {
		name   string
		modify func(r *Record)
	}{
		{"dotdot pipeline", func(r *Record) { r.Pipeline = ".." }},
		{"slash in node", func(r *Record) { r.Node = "a/b" }},
		{"space in node", func(r *Record) { r.Node = "a b" }},
		{"empty node", func(r *Record) { r.Node = "" }},
		{"bad action id", func(r *Record) { r.ActionID = "sha256:../../x" }},
		{"upper-case action id", func(r *Record) { r.ActionID = ActionID(strings.ToUpper(string(r.ActionID))) }},
		{"no output id", func(r *Record) { r.OutputID = "" }},
		{"lines do not match", func(r *Record) { r.Lines = r.Lines[:1] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecord("p", "n", "a", testTime)
			tt.modify(r)
			if err := s.Put(r); err == nil {
				t.Error("Put succeeded")
			}
		})
	}
	if _, err := s.Get("p", "../n", Sum(nil)); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Get with a bad name: err = %v, want a non-ErrNotFound error", err)
	}
}

// TestGetCorrupt writes bad record files where Get will look: each must be
// a miss with a warning, never a panic or an error.
func TestGetCorrupt(t *testing.T) {
	good := newRecord("p", "n", "a", testTime)
	encode := func(modify func(r *Record)) string {
		r := *good
		modify(&r)
		b, _ := json.Marshal(&r)
		return string(b)
	}
	valid := encode(func(*Record) {})
	tests := map[string]string{
		"empty":            "",
		"truncated":        valid[:len(valid)/2],
		"garbage":          "\x00\x01 not json",
		"trailing garbage": valid + "}",
		"wrong type":       `{"pipeline": 3}`,
		"other node":       encode(func(r *Record) { r.Node = "m" }),
		"other pipeline":   encode(func(r *Record) { r.Pipeline = "q" }),
		"other action":     encode(func(r *Record) { r.ActionID = Sum(nil) }),
		"no output id":     encode(func(r *Record) { r.OutputID = "" }),
		"no created":       encode(func(r *Record) { r.Created = time.Time{} }),
		"lines mismatch":   encode(func(r *Record) { r.Lines = nil; r.Lines = append(r.Lines, Line{"x", "y"}) }),
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			s, warnings := openStore(t)
			path, err := s.recordPath("p", "n", good.ActionID)
			if err != nil {
				t.Fatal(err)
			}
			os.MkdirAll(filepath.Dir(path), 0o700)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			// Get does not read key lines, so lines that do not hash to
			// the record's id only fail Latest, which explains with them.
			if r, err := s.Get("p", "n", good.ActionID); name != "lines mismatch" && !errors.Is(err, ErrNotFound) {
				t.Errorf("Get = %v, %v; want ErrNotFound", r, err)
			}
			if _, err := s.Latest("p", "n"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Latest: err = %v, want ErrNotFound", err)
			}
			if len(*warnings) < 1 || !strings.Contains((*warnings)[0], path) {
				t.Errorf("warnings %q do not name %s", *warnings, path)
			}
		})
	}
}

func TestListLatestDelete(t *testing.T) {
	s, _ := openStore(t)
	at := func(h int) time.Time { return testTime.Add(time.Duration(h) * time.Hour) }
	b1 := newRecord("web", "base@local", "b1", at(1))
	a2 := newRecord("web", "app@local", "a2", at(2))
	a1 := newRecord("web", "app@local", "a1", at(1))
	a3 := newRecord("web", "app@local", "a3", at(3))
	x := newRecord("db", "app@local", "x", at(5))
	put(t, s, b1, a2, a1, a3, x)
	// Strays in the store are not records.
	os.WriteFile(filepath.Join(s.Dir(), "records/web/app@local/.tmp-1.json"), []byte("{"), 0o600)
	os.WriteFile(filepath.Join(s.Dir(), "records/web/notes.txt"), nil, 0o600)
	os.MkdirAll(filepath.Join(s.Dir(), "records/bad name"), 0o700)

	ids := func(recs []*Record) []string {
		var out []string
		for _, r := range recs {
			out = append(out, r.Pipeline+"/"+r.Node+"/"+r.Lines[1].Value)
		}
		return out
	}
	for _, tt := range []struct {
		pipeline string
		want     []string
	}{
		{"", []string{"db/app@local/x", "web/app@local/a1", "web/app@local/a2", "web/app@local/a3", "web/base@local/b1"}},
		{"web", []string{"web/app@local/a1", "web/app@local/a2", "web/app@local/a3", "web/base@local/b1"}},
		{"none", nil},
	} {
		got, err := s.List(tt.pipeline)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
			t.Errorf("List(%q) (-want +got):\n%s", tt.pipeline, diff)
		}
	}

	latest, err := s.Latest("web", "app@local")
	if err != nil || latest.ActionID != a3.ActionID {
		t.Errorf("Latest = %v, %v; want a3", latest, err)
	}
	if err := s.Delete(a3); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(a3); err != nil {
		t.Errorf("deleting twice: %v", err)
	}
	if latest, err := s.Latest("web", "app@local"); err != nil || latest.ActionID != a2.ActionID {
		t.Errorf("Latest after delete = %v, %v; want a2", latest, err)
	}
	if _, err := s.Latest("web", "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Latest of an unknown node: err = %v, want ErrNotFound", err)
	}
}

func TestPrune(t *testing.T) {
	now := testTime.Add(100 * time.Hour)
	ago := func(h int) time.Time { return now.Add(-time.Duration(h) * time.Hour) }
	recs := []*Record{
		newRecord("web", "app@local", "a1", ago(30)),
		newRecord("web", "app@local", "a2", ago(20)),
		newRecord("web", "app@local", "a3", ago(1)),
		newRecord("web", "base@local", "b1", ago(50)),
		newRecord("db", "app@local", "d1", ago(40)),
		newRecord("db", "app@local", "d2", ago(2)),
	}
	tests := []struct {
		name string
		opts PruneOptions
		want []string
	}{
		{"no rule", PruneOptions{}, nil},
		{"keep 1", PruneOptions{Keep: 1}, []string{"d1", "a1", "a2"}},
		{"keep 2 in web", PruneOptions{Pipeline: "web", Keep: 2}, []string{"a1"}},
		{"older than 25h", PruneOptions{OlderThan: 25 * time.Hour}, []string{"d1", "a1", "b1"}},
		{"both rules list once", PruneOptions{Keep: 2, OlderThan: 25 * time.Hour}, []string{"d1", "a1", "b1"}},
		{"dry run", PruneOptions{Keep: 1, DryRun: true}, []string{"d1", "a1", "a2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openStore(t)
			s.now = func() time.Time { return now }
			put(t, s, recs...)
			before, _ := s.List("")
			removed, err := s.Prune(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range removed {
				got = append(got, r.Lines[1].Value)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Prune (-want +got):\n%s", diff)
			}
			after, _ := s.List("")
			wantLeft := len(before) - len(removed)
			if tt.opts.DryRun {
				wantLeft = len(before)
			}
			if len(after) != wantLeft {
				t.Errorf("%d records left, want %d", len(after), wantLeft)
			}
		})
	}
	s, _ := openStore(t)
	if _, err := s.Prune(PruneOptions{Keep: -1}); err == nil {
		t.Error("Prune accepted a negative Keep")
	}
}
