package schema

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// File is a pipeline file.
type File struct {
	// Path is the file's path as given.
	Path string `yaml:"-"`
	Pos  Pos    `yaml:"-"`
	// Name is the pipeline's name; it scopes the pipeline's cache records.
	// It defaults to the name of the file's directory.
	Name string `yaml:"name"`
	// Variables are the pipeline's inputs, set with --var, --var-file or
	// PIPE_VAR_<name>.
	Variables Map[*Variable] `yaml:"variables"`
	// Builders are named platform configs: where stages run.
	Builders Map[*Builder] `yaml:"builders"`
	// Stages are the layers of the images, connected by `from:`.
	Stages Map[*Stage] `yaml:"stages"`
}

// Variable is a declared input of the pipeline.
type Variable struct {
	Pos Pos `yaml:"-"`
	// Type is one of string (the default), number, bool, list or map.
	Type string `yaml:"type"`
	// Default is the value used when no other is given.
	Default any `yaml:"default"`
	// Description says what the variable is for.
	Description string `yaml:"description"`
	// Sensitive values are never printed, and enter cache keys only as an
	// HMAC.
	Sensitive bool `yaml:"sensitive"`
	// Validation lists conditions the value must meet.
	Validation []*Validation `yaml:"validation"`

	// HasDefault reports whether `default:` was given.
	HasDefault bool `yaml:"-"`
}

// Validation is a condition on a variable's value.
type Validation struct {
	Pos    Pos            `yaml:"-"`
	KeyPos map[string]Pos `yaml:"-"`
	// Condition is an expression over `vars` that must be true, for example
	// `${{ len(vars.suite) > 0 }}`.
	Condition Expr `yaml:"condition"`
	// Message is printed when the condition is false.
	Message string `yaml:"message"`
}

// Builder is a named platform config. Its keys other than `type` and
// `source` belong to the builder type.
type Builder struct {
	Pos Pos `yaml:"-"`
	// Type is the builder type: local, null, amazon-ebs, googlecompute.
	Type string `yaml:"type"`
	// Source is what root stages on this builder start from.
	Source Raw `yaml:"source"`
	// Config is the whole mapping, decoded by the builder type.
	Config Raw `yaml:"-"`
	// TypePos is the position of the type's value.
	TypePos Pos `yaml:"-"`
}

// Stage is one layer, built on every builder it names.
type Stage struct {
	Pos Pos `yaml:"-"`
	// Builders lists the builders this stage runs on. A stage with `from:`
	// inherits its upstream's builders; a root stage in a file with one
	// builder runs on it.
	Builders []string `yaml:"builders"`
	// From names the upstream stage whose image this stage starts from.
	From string `yaml:"from"`
	// Source overrides the builder's source for a root stage.
	Source Raw `yaml:"source"`
	// Provision lists the provisioners run in order, one type each:
	// `- shell: {inline: [...]}`.
	Provision []*Provisioner `yaml:"provision"`
	// Cache controls reuse of the stage's image.
	Cache Cache `yaml:"cache"`
	// When is a boolean expression; a false stage is skipped, and so are
	// its descendants.
	When Raw `yaml:"when"`
	// Image sets the image config (local/OCI builders only).
	Image Raw `yaml:"image"`
	// Outputs say where the stage's image is published.
	Outputs []Raw `yaml:"outputs"`
	// HCL is a Packer template (a *.pkr.hcl file, a directory of them, or a
	// legacy JSON template), relative to the pipeline file. The stage
	// expands at load time into the builders and stages `pipe import` makes
	// of it: one stage named like this one, or one per build named
	// STAGE.BUILD. With `from:`, the expanded stages start from the
	// upstream's image on its builders of the same type, in place of the
	// template's sources.
	HCL string `yaml:"hcl"`
	// Build keeps only the Packer build of this name (with `hcl:`).
	Build string `yaml:"build"`
	// Sources keeps only these template sources, "source.TYPE.NAME" (with
	// `hcl:`).
	Sources []string `yaml:"sources"`
	// Vars give the template's Packer variables values (with `hcl:`), as
	// `pipe import --var` does.
	Vars map[string]string `yaml:"vars"`

	// KeyPos holds the position of each key's value.
	KeyPos map[string]Pos `yaml:"-"`
}

// Cache controls reuse of a stage's image.
type Cache struct {
	// MaxAge makes a record older than this stale, for example "168h" or
	// "7d": the stage is rebuilt and the new record replaces it.
	MaxAge Duration `yaml:"max_age"`
}

// Provisioner is one step of a stage: a type and its config.
type Provisioner struct {
	Pos    Pos
	Type   string
	Config Raw
}

// Expr is an expression kept as written, with or without its ${{ }}: the
// pipeline evaluates it once the values it needs are known.
type Expr string

func (e *Expr) decodeYAML(d *Decoder, n ast.Node) {
	s, ok := scalarString(n)
	if !ok {
		d.errorf(n, "expected an expression, got %s", describe(n))
		return
	}
	*e = Expr(s)
}

// Source returns the expression's text without its ${{ }}.
func (e Expr) Source() string {
	s := strings.TrimSpace(string(e))
	if isWholeExpr(s) {
		return exprSource(s)
	}
	return s
}

// Duration is a time.Duration written as "90s", "168h" or "7d".
type Duration time.Duration

// UnmarshalText parses a Go duration, with "d" accepted for days.
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		// NaN, infinities and more days than a time.Duration holds are not
		// durations (time.ParseDuration rejects "1e10h" too).
		if err != nil || math.IsNaN(n) || math.Abs(n*24*float64(time.Hour)) >= math.MaxInt64 {
			return fmt.Errorf("invalid duration %q", s)
		}
		*d = Duration(time.Duration(n * 24 * float64(time.Hour)))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (use a number and a unit: 90s, 30m, 168h, 7d)", s)
	}
	*d = Duration(v)
	return nil
}

// String renders the duration as Go does.
func (d Duration) String() string { return time.Duration(d).String() }

func (b *Builder) decodeYAML(d *Decoder, n ast.Node) {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		d.errorf(n, "expected a builder mapping with a type, got %s", describe(n))
		return
	}
	b.Pos = d.Pos(n)
	b.Config = Raw{Node: n, Pos: b.Pos, File: d.File}
	for _, kv := range m.Values {
		switch keyString(kv.Key) {
		case "type":
			b.Type, _ = scalarString(kv.Value)
			b.TypePos = d.Pos(kv.Value)
		case "source":
			b.Source = Raw{Node: unwrap(kv.Value), Pos: d.Pos(kv.Value), File: d.File}
		}
	}
	if b.Type == "" {
		d.errorf(n, "builder has no type")
	}
}

func (p *Provisioner) decodeYAML(d *Decoder, n ast.Node) {
	m, ok := n.(*ast.MappingNode)
	if !ok || len(m.Values) != 1 {
		d.errorf(n, "a provisioner is a mapping with one key, its type (for example `- shell: {inline: [...]}`)")
		return
	}
	kv := m.Values[0]
	p.Pos = d.Pos(kv.Key)
	p.Type = keyString(kv.Key)
	p.Config = Raw{Node: unwrap(kv.Value), Pos: d.Pos(kv.Value), File: d.File}
}

func (v *Variable) decodeYAML(d *Decoder, n ast.Node) {
	type plain Variable
	var p plain
	m, ok := n.(*ast.MappingNode)
	if !ok {
		d.errorf(n, "expected a variable mapping (type, default, description, sensitive, validation), got %s", describe(n))
		return
	}
	errs := (&Decoder{File: d.File}).Decode(m, &p)
	d.errs = append(d.errs, errs...)
	*v = Variable(p)
	v.Pos = d.Pos(n)
	for _, kv := range m.Values {
		if keyString(kv.Key) == "default" {
			v.HasDefault = true
		}
	}
}

// Load reads and parses a pipeline file.
func Load(path string) (*File, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Pos: Pos{File: path}, Msg: fmt.Sprintf("cannot read pipeline file: %v", errors.Unwrap(err))}
	}
	return Parse(path, src)
}

// Parse parses a pipeline file's bytes, reporting every structural problem
// at once. On structural errors it still returns the partly decoded file, so
// that the caller can report its own problems in the same pass; on a YAML
// syntax error the file is nil.
func Parse(path string, src []byte) (*File, error) {
	af, err := parser.ParseBytes(src, 0)
	if err != nil {
		return nil, syntaxError(path, err)
	}
	f := &File{Path: path}
	if len(af.Docs) == 0 || af.Docs[0].Body == nil {
		return nil, Errorf(Pos{File: path, Line: 1, Col: 1}, "empty pipeline file")
	}
	if len(af.Docs) > 1 {
		return nil, Errorf(NodePos(path, af.Docs[1]), "a pipeline file holds one YAML document")
	}
	if errs := resolveAliases(path, af.Docs[0]); len(errs) > 0 {
		return nil, errs.Err()
	}
	d := &Decoder{File: path}
	errs := d.Decode(af.Docs[0].Body, f)
	f.Pos = NodePos(path, af.Docs[0].Body)
	return f, errs.Err()
}

// SyntaxError turns a goccy/go-yaml error into a positioned error with its
// message only (no quoted source lines).
func SyntaxError(path string, err error) error { return syntaxError(path, err) }

func syntaxError(path string, err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) && ye.GetToken() != nil {
		p := ye.GetToken().Position
		return Errorf(Pos{File: path, Line: p.Line, Col: p.Column}, "%s", ye.GetMessage())
	}
	return Errorf(Pos{File: path}, "%v", err)
}

// Image is the image config of a stage (local/OCI builders). Values set on
// a stage are merged over the upstream image's.
type Image struct {
	// Env sets environment variables.
	Env map[string]string `yaml:"env"`
	// Entrypoint is the image's entrypoint.
	Entrypoint []string `yaml:"entrypoint"`
	// Cmd is the default command.
	Cmd []string `yaml:"cmd"`
	// WorkingDir is the default working directory.
	WorkingDir string `yaml:"workdir"`
	// User is the default user.
	User string `yaml:"user"`
	// Labels are added to the image config.
	Labels map[string]string `yaml:"labels"`
	// ExposedPorts lists ports, as "80/tcp" or "53/udp".
	ExposedPorts []string `yaml:"exposed_ports"`
	// Cleanup, on unless set to false, empties /etc/machine-id and removes
	// SSH host keys, apt lists and caches, logs and /tmp's contents before
	// the stage is captured: images are safer to share and rebuilds more
	// often bit-identical.
	Cleanup *bool `yaml:"cleanup"`
}
