package pipeline

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func nodeNames(p *Pipeline) []string {
	var out []string
	for _, n := range p.Nodes() {
		up := ""
		if n.Up != nil {
			up = " <- " + n.Up.Name
		}
		out = append(out, n.Name+up)
	}
	return out
}

const twoBuilders = `builders:
  x: {type: null}
  y: {type: null}
stages:
`

func TestGraph(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		only []string
		want []string
	}{
		{"one builder is implied", "builders:\n  h: {type: null}\nstages:\n  a: {}\n  b: {from: a}\n",
			nil, []string{"a@h", "b@h <- a@h"}},
		{"from inherits builders; upstream first", twoBuilders + "  b: {from: a}\n  a: {builders: [x, y]}\n  c: {from: b, builders: [y]}\n",
			nil, []string{"a@x", "a@y", "b@x <- a@x", "b@y <- a@y", "c@y <- b@y"}},
		{"--only keeps ancestors", twoBuilders + "  a: {builders: [x]}\n  b: {from: a}\n  c: {from: b}\n  d: {from: a}\n  e: {builders: [y]}\n",
			[]string{"c"}, []string{"a@x", "b@x <- a@x", "c@x <- b@x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := loadSrc(t, tc.src, nil, func(o *Options) { o.Only = tc.only })
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, nodeNames(p)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestGraphErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		only []string
		want []string
	}{
		{"root without builders", twoBuilders + "  a: {}\n",
			nil, []string{`pipe.yaml:5:3: stage "a" has no ` + "`builders:`" + ` and the file declares several (x, y): name the ones it runs on`}},
		{"builder the upstream lacks", twoBuilders + "  a: {builders: [x]}\n  b: {from: a, builders: [y]}\n",
			nil, []string{`pipe.yaml:6:26: stage "b" runs on "y", but its upstream "a" does not (it runs on x)`}},
		{"unknown builder", twoBuilders + "  a: {builders: [zzz, yy]}\n",
			nil, []string{`pipe.yaml:5:17: stage "a": unknown builder "zzz"`, `pipe.yaml:5:17: stage "a": unknown builder "yy" (did you mean "y"?)`}},
		{"unknown from", twoBuilders + "  base: {builders: [x]}\n  app: {from: bsae}\n",
			nil, []string{`pipe.yaml:6:15: stage "app": from: unknown stage "bsae" (did you mean "base"?)`}},
		{"cycle", twoBuilders + "  a: {from: c, builders: [x]}\n  b: {from: a}\n  c: {from: b}\n  d: {builders: [y]}\n",
			nil, []string{`pipe.yaml:5:13: stages form a cycle through from: a (pipe.yaml:5:3) → b (pipe.yaml:6:3) → c (pipe.yaml:7:3) → a`}},
		{"self cycle", twoBuilders + "  a: {from: a, builders: [x]}\n",
			nil, []string{`pipe.yaml:5:13: stages form a cycle through from: a (pipe.yaml:5:3) → a`}},
		{"unknown --only", twoBuilders + "  base: {builders: [x]}\n", []string{"bsae"}, []string{`--only: unknown stage "bsae" (did you mean "base"?)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("Load panicked: %v", r)
					}
				}()
				_, err = loadSrc(t, tc.src, nil, func(o *Options) { o.Only = tc.only })
			}()
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.Split(inDir.ReplaceAllString(err.Error(), "pipe.yaml"), "\n")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// inDir matches a pipeline file's path in a temporary directory.
var inDir = regexp.MustCompile(`/\S*/pipe\.yaml`)
