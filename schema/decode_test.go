package schema

import (
	"testing"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/google/go-cmp/cmp"
)

// parseNode parses src into its document body, allowing duplicate keys so
// that the decoder's own duplicate checks are reachable.
func parseNode(t *testing.T, src string) ast.Node {
	t.Helper()
	af, err := parser.ParseBytes([]byte(src), 0, parser.AllowDuplicateMapKey())
	if err != nil {
		t.Fatalf("parse %q: %v", src, err)
	}
	return af.Docs[0].Body
}

// errStrings renders a decoder's errors, sorted as Errors.Err sorts them.
func errStrings(errs Errors) []string {
	err := errs.Err()
	if err == nil {
		return nil
	}
	var out []string
	for _, e := range err.(Errors) {
		out = append(out, e.Error())
	}
	return out
}

type scalars struct {
	S   string            `yaml:"s"`
	N   int               `yaml:"n"`
	I8  int8              `yaml:"i8"`
	U   uint              `yaml:"u"`
	F   float64           `yaml:"f"`
	B   bool              `yaml:"b"`
	L   []int             `yaml:"l"`
	M   map[string]string `yaml:"m"`
	P   *int              `yaml:"p"`
	D   Duration          `yaml:"d"`
	Any any               `yaml:"any"`
}

func TestDecodeScalars(t *testing.T) {
	three := 3
	for _, tc := range []struct {
		name string
		src  string
		want *scalars // nil: the value is not compared
		errs []string
	}{
		{name: "all kinds", src: "s: hi\nn: 3\ni8: -8\nu: 7\nf: 1.5\nb: true\nl: [1, 2]\nm: {k: v}\np: 3\nd: 90s\nany: {a: [1, x]}\n",
			want: &scalars{S: "hi", N: 3, I8: -8, U: 7, F: 1.5, B: true, L: []int{1, 2}, M: map[string]string{"k": "v"},
				P: &three, D: Duration(90 * time.Second), Any: map[string]any{"a": []any{uint64(1), "x"}}}},
		{name: "number into string", src: "s: 3\n", want: &scalars{S: "3"}},
		{name: "hex int", src: "n: 0x1f\n", want: &scalars{N: 31}},
		{name: "null keeps zero", src: "n: ~\ns:\n", want: &scalars{}},
		{name: "word into int", src: "n: abc\n", errs: []string{`f.yaml:1:4: expected an integer, got "abc"`}},
		{name: "quoted int", src: `n: "3"` + "\n", errs: []string{`f.yaml:1:4: expected an integer, got "3"`}},
		{name: "single-quoted int", src: "n: '3'\n", errs: []string{`f.yaml:1:4: expected an integer, got "3"`}},
		{name: "quoted bool", src: `b: "true"` + "\n", errs: []string{`f.yaml:1:4: expected a boolean, got "true"`}},
		{name: "yes is no bool", src: "b: yes\n", errs: []string{`f.yaml:1:4: expected a boolean, got "yes"`}},
		{name: "float into int", src: "n: 1.5\n", errs: []string{`f.yaml:1:4: expected an integer, got "1.5"`}},
		{name: "int8 overflow", src: "i8: 300\n", errs: []string{`f.yaml:1:5: expected an integer, got "300"`}},
		{name: "negative uint", src: "u: -1\n", errs: []string{`f.yaml:1:4: expected an integer, got "-1"`}},
		{name: "quoted float", src: `f: "1.5"` + "\n", errs: []string{`f.yaml:1:4: expected a number, got "1.5"`}},
		{name: "list into string", src: "s: [a]\n", errs: []string{`f.yaml:1:4: expected a string, got a list`}},
		{name: "mapping into int", src: "n: {a: 1}\n", errs: []string{`f.yaml:1:4: expected an integer, got a mapping`}},
		{name: "scalar into list", src: "l: 3\n", errs: []string{`f.yaml:1:4: expected a list, got "3"`}},
		{name: "scalar into map", src: "m: x\n", errs: []string{`f.yaml:1:4: expected a mapping, got "x"`}},
		{name: "bad list element", src: "l: [1, x]\n", errs: []string{`f.yaml:1:8: expected an integer, got "x"`}},
		{name: "expression without interp", src: "s: ${{ vars.x }}\n", errs: []string{`f.yaml:1:4: expressions are not allowed here`}},
		{name: "interpolation without interp", src: "s: a-${{ vars.x }}\n", errs: []string{`f.yaml:1:4: expressions are not allowed here`}},
		{name: "unknown key", src: "nn: 1\n", errs: []string{`f.yaml:1:1: unknown key "nn" (did you mean "n"?)`}},
		{name: "unknown key far from all", src: "zzzzzz: 1\n", errs: []string{`f.yaml:1:1: unknown key "zzzzzz"`}},
		{name: "all errors at once, sorted", src: "n: abc\nb: 2\nzzzzzz: 1\nl: [x]\n", errs: []string{
			`f.yaml:1:4: expected an integer, got "abc"`,
			`f.yaml:2:4: expected a boolean, got "2"`,
			`f.yaml:3:1: unknown key "zzzzzz"`,
			`f.yaml:4:5: expected an integer, got "x"`,
		}},
		{name: "duplicate struct key", src: "n: 1\nn: 2\n", want: &scalars{N: 1}, errs: []string{`f.yaml:2:1: duplicate key "n"`}},
		{name: "duplicate map key", src: "m:\n  a: x\n  a: y\n", want: &scalars{M: map[string]string{"a": "x"}}, errs: []string{`f.yaml:3:3: duplicate key "a"`}},
		{name: "not a mapping", src: "- 1\n", errs: []string{`f.yaml:1:1: expected a mapping, got a list`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got scalars
			d := &Decoder{File: "f.yaml"}
			errs := d.Decode(parseNode(t, tc.src), &got)
			if diff := cmp.Diff(tc.errs, errStrings(errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if tc.want == nil {
				return
			}
			if diff := cmp.Diff(*tc.want, got); diff != "" {
				t.Errorf("value (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "90s", want: 90 * time.Second},
		{in: "30m", want: 30 * time.Minute},
		{in: "168h", want: 168 * time.Hour},
		{in: "7d", want: 7 * 24 * time.Hour},
		{in: "1.5d", want: 36 * time.Hour},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "junk", err: `invalid duration "junk" (use a number and a unit: 90s, 30m, 168h, 7d)`},
		{in: "7", err: `invalid duration "7" (use a number and a unit: 90s, 30m, 168h, 7d)`},
		{in: "", err: `invalid duration "" (use a number and a unit: 90s, 30m, 168h, 7d)`},
		{in: "d", err: `invalid duration "d"`},
		{in: "xd", err: `invalid duration "xd"`},
		{in: "7 d", err: `invalid duration "7 d"`},
		// Not numbers of days: NaN and infinity must not become a duration.
		{in: "nand", err: `invalid duration "nand"`},
		{in: "infd", err: `invalid duration "infd"`},
		// More days than a time.Duration holds overflow, as "1e10h" does.
		{in: "1e10d", err: `invalid duration "1e10d"`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var d Duration
			err := d.UnmarshalText([]byte(tc.in))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.err {
				t.Fatalf("UnmarshalText(%q) error = %q (value %v), want %q", tc.in, got, time.Duration(d), tc.err)
			}
			if err == nil && time.Duration(d) != tc.want {
				t.Errorf("UnmarshalText(%q) = %v, want %v", tc.in, time.Duration(d), tc.want)
			}
		})
	}
}

func TestDurationInFile(t *testing.T) {
	var got struct {
		D Duration `yaml:"d"`
	}
	errs := (&Decoder{File: "f.yaml"}).Decode(parseNode(t, "d: soon\n"), &got)
	want := []string{`f.yaml:1:4: invalid duration "soon" (use a number and a unit: 90s, 30m, 168h, 7d)`}
	if diff := cmp.Diff(want, errStrings(errs)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestMapKeepsOrderAndPositions(t *testing.T) {
	var got struct {
		M Map[int] `yaml:"m"`
	}
	src := "m:\n  zeta: 1\n  alpha: 2\n  mid: 3\n  alpha: 4\n"
	errs := (&Decoder{File: "f.yaml"}).Decode(parseNode(t, src), &got)
	if diff := cmp.Diff([]string{`f.yaml:5:3: duplicate key "alpha"`}, errStrings(errs)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	want := Map[int]{
		Keys:   []string{"zeta", "alpha", "mid"},
		Values: map[string]int{"zeta": 1, "alpha": 2, "mid": 3},
		Pos: map[string]Pos{
			"zeta":  {File: "f.yaml", Line: 2, Col: 3},
			"alpha": {File: "f.yaml", Line: 3, Col: 3},
			"mid":   {File: "f.yaml", Line: 4, Col: 3},
		},
	}
	if diff := cmp.Diff(want, got.M); diff != "" {
		t.Errorf("map (-want +got):\n%s", diff)
	}
	if v, ok := got.M.Get("mid"); !ok || v != 3 || got.M.Len() != 3 {
		t.Errorf("Get(mid) = %v, %v; Len = %d", v, ok, got.M.Len())
	}
}

func TestMapSet(t *testing.T) {
	var m Map[string]
	p1, p2 := Pos{File: "a", Line: 1}, Pos{File: "a", Line: 2}
	m.Set("x", p1, "1")
	m.Set("y", p2, "2")
	m.Set("x", p2, "3") // replaces the value, keeps the first position and order
	want := Map[string]{Keys: []string{"x", "y"}, Values: map[string]string{"x": "3", "y": "2"},
		Pos: map[string]Pos{"x": p1, "y": p2}}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestErrorsErr(t *testing.T) {
	var l Errors
	if l.Err() != nil {
		t.Fatal("empty list: Err() != nil")
	}
	l.Add(Pos{File: "b", Line: 1, Col: 1}, "b1")
	l.Add(Pos{File: "a", Line: 3, Col: 2}, "a32")
	l.Add(Pos{File: "a", Line: 3, Col: 1}, "a31")
	l.Add(Pos{File: "a", Line: 1, Col: 9}, "a19")
	l.Add(Pos{File: "a", Line: 3, Col: 1}, "a31") // duplicate
	l.Append(Pos{File: "c"}, Errors{Errorf(Pos{File: "a", Line: 2}, "a2")})
	l.Append(Pos{File: "c", Line: 7}, errString("plain"))
	l.Append(Pos{}, nil)
	var got []string
	for _, e := range l.Err().(Errors) {
		got = append(got, e.Error())
	}
	want := []string{"a:1:9: a19", "a:2: a2", "a:3:1: a31", "a:3:2: a32", "b:1:1: b1", "c:7: plain"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got, want := (&Error{Msg: "bare"}).Error(), "bare"; got != want {
		t.Errorf("unpositioned error = %q, want %q", got, want)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestSuggest(t *testing.T) {
	cands := []string{"provision", "builders", "from", "source", "cache"}
	for _, tc := range []struct{ in, want string }{
		{"provison", "provision"},
		{"Provision", "provision"},
		{"buidlers", "builders"},
		{"form", "from"},
		{"x", ""},
		{"image", ""},
		{"sourcecode", ""},
	} {
		if got := Suggest(tc.in, cands); got != tc.want {
			t.Errorf("Suggest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// A one-letter name is not a typo of every other one-letter name.
	if got := Suggest("z", []string{"x", "y"}); got != "" {
		t.Errorf(`Suggest("z") = %q, want ""`, got)
	}
}
