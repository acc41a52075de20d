package schema

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// Plugin types standing in for real builders and provisioners.

type testBuilderConfig struct {
	Region  string            `yaml:"region"`
	Count   int               `yaml:"count"`
	Tags    map[string]string `yaml:"tags"`
	Timeout testDuration      `yaml:"timeout"`
	Ignored string            `yaml:"-"`
	Pos     Pos               `yaml:"-"`
	EmbeddedForTest
	hidden string // unexported fields are not keys
}

type EmbeddedForTest struct {
	Zone string `yaml:"zone"`
}

type testSource struct {
	Image string `yaml:"image"`
}

// testOutput is where a zeta image goes.
type testOutput struct {
	// Dir is a directory.
	Dir string `yaml:"dir"`
}

type testProvConfig struct {
	Inline  []string `yaml:"inline"`
	Retries uint     `yaml:"retries"`
	Ratio   float64  `yaml:"ratio"`
	Extra   any      `yaml:"extra"`
}

type testDuration time.Duration

func (d *testDuration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = testDuration(v)
	return err
}

const testPkg = "github.com/pipebuild/pipe/schema"

func testKinds() Kinds {
	_ = testBuilderConfig{hidden: "not a key"}
	return Kinds{
		Builders: []BuilderKind{
			{Type: "zeta", Config: &testBuilderConfig{}, Source: &testSource{}, Output: &testOutput{}},
			{Type: "null", Config: &struct{}{}},
		},
		Provisioners: []ProvisionerKind{
			{Type: "shell", Config: &testProvConfig{}},
			{Type: "file", Config: &testSource{}},
		},
	}
}

// generate returns the schema of testKinds with docs read from this
// package's source plus docs for the test types.
func generate(t *testing.T) map[string]any {
	t.Helper()
	docs, err := SourceDocs(".", testPkg)
	if err != nil {
		t.Fatal(err)
	}
	docs[testPkg+".testBuilderConfig"] = "The zeta builder."
	docs[testPkg+".testBuilderConfig.Region"] = "Region to build in."
	docs[testPkg+".testProvConfig.Inline"] = "Commands to run."
	out, err := Generate(testKinds(), docs)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	return s
}

// at walks a decoded JSON value by object keys and array indexes.
func at(t *testing.T, v any, path ...any) any {
	t.Helper()
	for i, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not an object at %v", path, path[:i])
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("%v: no key %q at %v (keys %v)", path, k, path[:i], keys(m))
			}
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("%v: no index %d at %v", path, k, path[:i])
			}
			v = a[k]
		}
	}
	return v
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestGenerateHeader(t *testing.T) {
	s := generate(t)
	for key, want := range map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  SchemaID,
		"title":                "pipe pipeline file",
		"type":                 "object",
		"additionalProperties": false,
	} {
		if got := s[key]; got != want {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
	if got := at(t, s, "properties", "stages", "additionalProperties", "$ref"); got != "#/$defs/Stage" {
		t.Errorf("stages values = %v, want a $ref to Stage", got)
	}
}

func TestGenerateDeterministic(t *testing.T) {
	docs := Docs{testPkg + ".Stage.From": "From."}
	a, err := Generate(testKinds(), docs)
	if err != nil {
		t.Fatal(err)
	}
	k := testKinds()
	k.Builders[0], k.Builders[1] = k.Builders[1], k.Builders[0]
	b, err := Generate(k, docs)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("output depends on the order of the kinds")
	}
	if !bytes.HasSuffix(a, []byte("}\n")) || !bytes.Contains(a, []byte("\n  \"")) {
		t.Error("output is not indented JSON with a trailing newline")
	}
	if bytes.Contains(a, []byte(`\u003c`)) {
		t.Error("output escapes HTML characters")
	}
}

func TestGenerateUnknownKeysForbidden(t *testing.T) {
	s := generate(t)
	for _, def := range []string{"Stage", "Variable", "Validation", "Cache", "Image", "testSource"} {
		name := def
		if got := at(t, s, "$defs", name, "additionalProperties"); got != false {
			t.Errorf("%s: additionalProperties = %v, want false", name, got)
		}
	}
	stage := at(t, s, "$defs", "Stage", "properties").(map[string]any)
	for _, key := range []string{"builders", "from", "source", "provision", "cache", "when", "image", "outputs"} {
		if _, ok := stage[key]; !ok {
			t.Errorf("stage has no property %q", key)
		}
	}
	for _, key := range []string{"keypos", "KeyPos", "pos", "Pos"} {
		if _, ok := stage[key]; ok {
			t.Errorf("stage has property %q, which is not a key", key)
		}
	}
}

func TestGenerateDescriptions(t *testing.T) {
	s := generate(t)
	if got := s["description"]; got != "File is a pipeline file." {
		t.Errorf("root description = %q", got)
	}
	got := at(t, s, "$defs", "Stage", "properties", "when", "description")
	if want := "When is a boolean expression; a false stage is skipped, and so are its descendants."; got != want {
		t.Errorf("stage.when description = %q, want %q (the doc comment's paragraph on one line)", got, want)
	}
	if got := at(t, s, "$defs", "Stage", "description"); got != "Stage is one layer, built on every builder it names." {
		t.Errorf("Stage description = %q", got)
	}
	if got := at(t, s, "$defs", "Builder", "allOf", 1, "then", "properties", "region", "description"); got != "Region to build in." {
		t.Errorf("builder config field description = %q", got)
	}
	if got := at(t, s, "$defs", "Builder", "allOf", 1, "then", "description"); got != "The zeta builder." {
		t.Errorf("builder config description = %q", got)
	}
	if got := at(t, s, "$defs", "testProvConfig", "properties", "inline", "description"); got != "Commands to run." {
		t.Errorf("provisioner field description = %q", got)
	}
}

func TestGenerateProvisioners(t *testing.T) {
	s := generate(t)
	prov := at(t, s, "$defs", "Provisioner")
	if at(t, prov, "minProperties") != 1.0 || at(t, prov, "maxProperties") != 1.0 {
		t.Errorf("provisioner is not limited to one key: %v", prov)
	}
	alts := at(t, prov, "oneOf").([]any)
	if len(alts) != 2 {
		t.Fatalf("oneOf has %d entries, want 2", len(alts))
	}
	// Sorted by type: file, shell.
	for i, typ := range []string{"file", "shell"} {
		alt := alts[i]
		if got := at(t, alt, "required"); !reflect.DeepEqual(got, []any{typ}) {
			t.Errorf("oneOf[%d].required = %v, want [%s]", i, got, typ)
		}
		if at(t, alt, "additionalProperties") != false {
			t.Errorf("oneOf[%d] allows other keys", i)
		}
		props := at(t, alt, "properties").(map[string]any)
		if len(props) != 1 {
			t.Errorf("oneOf[%d] has properties %v, want only %s", i, keys(props), typ)
		}
	}
	if got := at(t, alts[1], "properties", "shell", "$ref"); got != "#/$defs/testProvConfig" {
		t.Errorf("shell config = %v", got)
	}
	if got := at(t, s, "$defs", "Stage", "properties", "provision", "items", "$ref"); got != "#/$defs/Provisioner" {
		t.Errorf("provision items = %v", got)
	}
	cfg := at(t, s, "$defs", "testProvConfig", "properties")
	expr := map[string]any{"type": "string", "pattern": exprPattern}
	if got := at(t, cfg, "retries", "anyOf"); !reflect.DeepEqual(got, []any{map[string]any{"type": "integer", "minimum": 0.0}, expr}) {
		t.Errorf("uint = %v", got)
	}
	if got := at(t, cfg, "ratio", "anyOf"); !reflect.DeepEqual(got, []any{map[string]any{"type": "number"}, expr}) {
		t.Errorf("float = %v", got)
	}
	if got := at(t, cfg, "extra"); !reflect.DeepEqual(got, map[string]any{}) {
		t.Errorf("any = %v, want {}", got)
	}
	if got := at(t, cfg, "inline", "anyOf", 0, "items"); !reflect.DeepEqual(got, map[string]any{"type": "string"}) {
		t.Errorf("[]string items = %v", got)
	}
}

func TestGenerateBuilders(t *testing.T) {
	s := generate(t)
	b := at(t, s, "$defs", "Builder")
	if got := at(t, b, "required"); !reflect.DeepEqual(got, []any{"type"}) {
		t.Errorf("required = %v", got)
	}
	if got := at(t, b, "properties", "type", "enum"); !reflect.DeepEqual(got, []any{"null", nil, "zeta"}) {
		t.Errorf("type enum = %v, want null (also as YAML's null) and zeta", got)
	}
	if _, ok := b.(map[string]any)["additionalProperties"]; ok {
		t.Error("the builder entry itself must leave its keys to the if/then cases")
	}
	cases := at(t, b, "allOf").([]any)
	if len(cases) != 2 {
		t.Fatalf("allOf has %d cases, want 2", len(cases))
	}
	if got := at(t, cases[1], "if", "properties", "type", "const"); got != "zeta" {
		t.Errorf("if = %v", at(t, cases[1], "if"))
	}
	then := at(t, cases[1], "then")
	if at(t, then, "additionalProperties") != false {
		t.Error("then allows unknown keys")
	}
	props := at(t, then, "properties").(map[string]any)
	want := []string{"count", "region", "source", "tags", "timeout", "type", "zone"}
	got := keys(props)
	if len(got) != len(want) {
		t.Errorf("zeta keys = %v, want %v", got, want)
	}
	for _, k := range want {
		if _, ok := props[k]; !ok {
			t.Errorf("zeta has no key %q", k)
		}
	}
	if got := at(t, props, "source", "$ref"); got != "#/$defs/testSource" {
		t.Errorf("zeta source = %v", got)
	}
	if got := at(t, props, "timeout"); !reflect.DeepEqual(got, map[string]any{"type": "string"}) {
		t.Errorf("TextUnmarshaler = %v, want a string", got)
	}
	if got := at(t, props, "count", "anyOf", 1, "pattern"); got != exprPattern {
		t.Errorf("int does not accept an expression: %v", props["count"])
	}
	// The null builder has no source.
	if got := at(t, cases[0], "then", "properties", "source"); got != false {
		t.Errorf("null source = %v, want false", got)
	}
	if got := at(t, cases[0], "if", "properties", "type", "enum"); !reflect.DeepEqual(got, []any{"null", nil}) {
		t.Errorf("null if = %v", got)
	}
	// A stage's source is any builder's source.
	if got := at(t, s, "$defs", "Stage", "properties", "source", "anyOf"); !reflect.DeepEqual(got, []any{map[string]any{"$ref": "#/$defs/testSource"}}) {
		t.Errorf("stage source = %v", got)
	}
}

func TestGenerateStageParts(t *testing.T) {
	s := generate(t)
	stage := at(t, s, "$defs", "Stage", "properties")
	expr := map[string]any{"type": "string", "pattern": exprPattern}
	if got := at(t, stage, "when", "anyOf"); !reflect.DeepEqual(got, []any{map[string]any{"type": "boolean"}, expr}) {
		t.Errorf("when = %v", got)
	}
	if got := at(t, stage, "image", "$ref"); got != "#/$defs/Image" {
		t.Errorf("image = %v", got)
	}
	// Outputs are any builder's outputs (null has none).
	if got := at(t, stage, "outputs", "items", "anyOf"); !reflect.DeepEqual(got, []any{map[string]any{"$ref": "#/$defs/testOutput"}}) {
		t.Errorf("outputs = %v", got)
	}
	if got := at(t, s, "$defs", "Cache", "properties", "max_age", "type"); got != "string" {
		t.Errorf("cache.max_age = %v", got)
	}
	def := at(t, s, "$defs", "Variable", "properties", "default").(map[string]any)
	delete(def, "description")
	if len(def) != 0 {
		t.Errorf("variable default = %v, want {}", def)
	}
	// A list of provisioners cannot be an expression; a list of strings can.
	if _, ok := at(t, stage, "provision").(map[string]any)["anyOf"]; ok {
		t.Error("provision accepts an expression")
	}
	if got := at(t, stage, "builders", "anyOf", 1); !reflect.DeepEqual(got, expr) {
		t.Errorf("builders = %v", at(t, stage, "builders"))
	}
}

func TestGenerateErrors(t *testing.T) {
	for name, k := range map[string]Kinds{
		"duplicate builder":     {Builders: []BuilderKind{{Type: "a"}, {Type: "a"}}},
		"duplicate provisioner": {Provisioners: []ProvisionerKind{{Type: "a"}, {Type: "a"}}},
		"untyped builder":       {Builders: []BuilderKind{{}}},
		"non-struct config":     {Builders: []BuilderKind{{Type: "a", Config: new(string)}}},
		"unsupported field":     {Provisioners: []ProvisionerKind{{Type: "a", Config: &struct{ C chan int }{}}}},
		"int map key":           {Provisioners: []ProvisionerKind{{Type: "a", Config: &struct{ M map[int]string }{}}}},
	} {
		if _, err := Generate(k, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestSourceDocs(t *testing.T) {
	root := t.TempDir()
	write := func(name, src string) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.go", `package a

// T is a thing
// on two lines.
//
// More detail that is left out.
type T struct {
	// F is a field.
	F string
	G, H int // G and H share a line comment.
	Embedded
	undocumented bool
}

type (
	// U is grouped.
	U int
	V int
)
`)
	write("sub/b.go", "package sub\n\n// W is in a subpackage.\ntype W struct{}\n")
	write("a_test.go", "package a\n\n// X is in a test file.\ntype X struct{}\n")
	write("testdata/c.go", "package c\n\n// Y is test data.\ntype Y struct{}\n")
	docs, err := SourceDocs(root, "example.com/m")
	if err != nil {
		t.Fatal(err)
	}
	want := Docs{
		"example.com/m.T":     "T is a thing on two lines.",
		"example.com/m.T.F":   "F is a field.",
		"example.com/m.T.G":   "G and H share a line comment.",
		"example.com/m.T.H":   "G and H share a line comment.",
		"example.com/m.U":     "U is grouped.",
		"example.com/m/sub.W": "W is in a subpackage.",
	}
	if !reflect.DeepEqual(docs, want) {
		t.Errorf("SourceDocs = %v\nwant %v", docs, want)
	}

	write("bad.go", "package a\n\nfunc {")
	if _, err := SourceDocs(root, "example.com/m"); err == nil {
		t.Error("no error for a file that does not parse")
	}
}
