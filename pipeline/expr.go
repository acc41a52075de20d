package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/pipebuild/pipe/schema"
)

// scope is what expressions in one stage may see: the declared variables,
// the environment and the artifacts of the stage's upstream stages. Its Go
// type is built once so that expr-lang type-checks references at validate
// time ("unknown name vars.sute").
type scope struct {
	typ       reflect.Type // struct{Vars; Env; Stages}
	varFields map[string]int
	upstreams func() []string // the upstream stages, computed on demand
	progs     sync.Map        // source → *compiled
	funcs     []expr.Option
}

var (
	artifactType = reflect.TypeFor[map[string]string]()
	envType      = reflect.TypeFor[map[string]string]()
)

// varGoType maps a declared variable type to the Go type expressions see.
func varGoType(t string) reflect.Type {
	switch t {
	case "number":
		return reflect.TypeFor[float64]()
	case "bool":
		return reflect.TypeFor[bool]()
	case "list":
		return reflect.TypeFor[[]any]()
	case "map":
		return reflect.TypeFor[map[string]any]()
	}
	return reflect.TypeFor[string]()
}

// newScope builds the expression scope for variables vars (in order) and
// the upstream stages that ups lists when called (nil: none). ups is called
// only to report an error: a chain of N stages must not cost N² here.
func newScope(vars *schema.Map[*schema.Variable], ups func() []string, funcs []expr.Option) *scope {
	if ups == nil {
		ups = func() []string { return nil }
	}
	s := &scope{varFields: map[string]int{}, upstreams: ups, funcs: funcs}
	var vf []reflect.StructField
	for i, name := range vars.Keys {
		v := vars.Values[name]
		vf = append(vf, reflect.StructField{
			Name: fmt.Sprintf("V%d", i),
			Type: varGoType(v.Type),
			Tag:  reflect.StructTag(fmt.Sprintf(`expr:%q`, name)),
		})
		s.varFields[name] = i
	}
	// stages is a map, not a struct with a field per upstream stage: a
	// chain of N stages would otherwise build N types of up to N fields.
	// References to stages that are not upstream are caught by
	// checkStageRefs instead.
	s.typ = reflect.StructOf([]reflect.StructField{
		{Name: "Vars", Type: reflect.StructOf(vf), Tag: `expr:"vars"`},
		{Name: "Env", Type: envType, Tag: `expr:"env"`},
		{Name: "Stages", Type: stagesType, Tag: `expr:"stages"`},
	})
	return s
}

// stageValue is what `stages.NAME` holds.
type stageValue struct {
	Artifact map[string]string `expr:"artifact"`
}

var stagesType = reflect.TypeFor[map[string]stageValue]()

// value builds the scope's value from variable values, the environment and
// upstream artifacts (missing artifacts stay empty).
func (s *scope) value(vars map[string]any, env map[string]string, arts map[string]map[string]string) any {
	v := reflect.New(s.typ).Elem()
	vv := v.Field(0)
	for name, i := range s.varFields {
		if val, ok := vars[name]; ok && val != nil {
			f := vv.Field(i)
			rv := reflect.ValueOf(val)
			if rv.Type().ConvertibleTo(f.Type()) {
				f.Set(rv.Convert(f.Type()))
			}
		}
	}
	v.Field(1).Set(reflect.ValueOf(env))
	stages := map[string]stageValue{}
	for name, a := range arts {
		stages[name] = stageValue{Artifact: a}
	}
	v.Field(2).Set(reflect.ValueOf(stages))
	return v.Interface()
}

// interp evaluates (or, with val nil, type-checks) expressions in a scope.
// It records every variable the expressions reference, and whether any
// refers to a stage's artifact.
type interp struct {
	sc   *scope
	val  any // nil: check only
	refs map[string]bool
	// usesStages is set when an expression reads stages.NAME: its value
	// then depends on the upstream's artifact.
	usesStages bool
}

// compiled is an expression compiled once per scope: a node's expressions
// are checked at load, then evaluated by plan and run.
type compiled struct {
	prog       *vm.Program
	vars       []string
	usesStages bool
}

var _ schema.Interp = (*interp)(nil)

func newInterp(sc *scope, val any) *interp {
	return &interp{sc: sc, val: val, refs: map[string]bool{}}
}

// Checking reports that this interp only type-checks.
func (in *interp) Checking() bool { return in.val == nil }

func (in *interp) compile(src string, pos schema.Pos) (*vm.Program, error) {
	c, err := in.sc.compile(in, src, pos)
	if err != nil {
		return nil, err
	}
	for _, v := range c.vars {
		in.refs[v] = true
	}
	in.usesStages = in.usesStages || c.usesStages
	return c.prog, nil
}

// compile compiles src in the scope, once.
func (s *scope) compile(in *interp, src string, pos schema.Pos) (*compiled, error) {
	if c, ok := s.progs.Load(src); ok {
		return c.(*compiled), nil
	}
	opts := append([]expr.Option{expr.Env(reflect.New(s.typ).Elem().Interface()), expr.DisableBuiltin("now")}, s.funcs...)
	p, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, in.exprError(src, pos, err)
	}
	uses, err := in.checkStageRefs(p.Node())
	if err != nil {
		return nil, schema.Errorf(pos, "in expression %q: %v", src, err)
	}
	refs := map[string]bool{}
	collectRefs(p.Node(), refs)
	c := &compiled{prog: p, vars: slices.Sorted(maps.Keys(refs)), usesStages: uses}
	s.progs.Store(src, c)
	return c, nil
}

// noField is expr-lang's message for a missing struct field; the scope's
// structs are generated, so it is translated into the user's words.
var noField = regexp.MustCompile(`^type struct \{.*\} has no field (\S+)$`)

// exprError positions an expr-lang error inside the YAML scalar, pos being
// where the expression's text starts.
func (in *interp) exprError(src string, pos schema.Pos, err error) error {
	var fe *file.Error
	msg := err.Error()
	if errors.As(err, &fe) {
		msg = fe.Message
		if fe.Line <= 1 {
			pos.Col += fe.Column
		}
	}
	if m := noField.FindStringSubmatch(msg); m != nil {
		msg = in.unknownName(src, m[1])
	}
	return schema.Errorf(pos, "in expression %q: %s", src, msg)
}

// unknownName explains a reference to a variable or stage that the scope
// lacks.
func (in *interp) unknownName(src, name string) string {
	switch {
	case strings.Contains(src, "vars."+name):
		var names []string
		for n := range in.sc.varFields {
			names = append(names, n)
		}
		return fmt.Sprintf("unknown variable %q%s", name, suggest(name, names))
	case strings.Contains(src, "stages."+name):
		ups := in.sc.upstreams()
		if len(ups) == 0 {
			return fmt.Sprintf("unknown stage %q: this stage has no upstream stages", name)
		}
		return fmt.Sprintf("unknown stage %q: only upstream stages are visible here (%s)%s",
			name, strings.Join(ups, ", "), suggest(name, ups))
	}
	return fmt.Sprintf("unknown name %q", name)
}

// Eval implements schema.Interp. pos is the scalar's position; the
// expression text starts after "${{ ".
func (in *interp) Eval(src string, pos schema.Pos) (any, error) {
	pos.Col += 4
	return in.eval(src, pos)
}

// eval evaluates src, whose text starts at pos.
func (in *interp) eval(src string, pos schema.Pos) (any, error) {
	p, err := in.compile(src, pos)
	if err != nil {
		return nil, err
	}
	if in.val == nil {
		return schema.Typed{Type: p.Node().Type()}, nil
	}
	out, err := expr.Run(p, in.val)
	if err != nil {
		return nil, schema.Errorf(pos, "in expression %q: %v", src, unwrapRuntime(err))
	}
	return out, nil
}

// Interpolate implements schema.Interp.
func (in *interp) Interpolate(s string, pos schema.Pos) (string, error) {
	var b strings.Builder
	var errs schema.Errors
	offset := 0 // of s within the scalar, for error columns
	for {
		i := strings.Index(s, "${{")
		if i < 0 {
			b.WriteString(s)
			break
		}
		if i > 0 && s[i-1] == '$' { // "$${{" is a literal "${{"
			b.WriteString(s[:i-1] + "${{")
			s, offset = s[i+3:], offset+i+3
			continue
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			errs.Add(pos, "unterminated ${{ in %q", s)
			break
		}
		b.WriteString(s[:i])
		inner := s[i+3 : i+j]
		epos := pos
		epos.Col += offset + i + 3 + len(inner) - len(strings.TrimLeft(inner, " "))
		v, err := in.eval(strings.TrimSpace(inner), epos)
		if err != nil {
			errs.Append(pos, err)
		} else if _, typed := v.(schema.Typed); !typed {
			b.WriteString(render(v))
		}
		s, offset = s[i+j+2:], offset+i+j+2
	}
	return b.String(), errs.Err()
}

// render formats a value interpolated into a string.
func render(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case float64:
		// Not fmt's %v, which writes 1000000 as 1e+06.
		return strconv.FormatFloat(t, 'f', -1, 64)
	case []any, map[string]any, map[string]string:
		b, _ := json.Marshal(t)
		return string(b)
	}
	return fmt.Sprint(v)
}

func unwrapRuntime(err error) string {
	var fe *file.Error
	if errors.As(err, &fe) {
		return fe.Message
	}
	return err.Error()
}

// checkStageRefs reports a `stages.NAME` whose stage is not upstream of the
// expression's stage.
func (in *interp) checkStageRefs(n ast.Node) (uses bool, err error) {
	var bad string
	ast.Walk(&n, visitFunc(func(n *ast.Node) {
		if id, ok := (*n).(*ast.IdentifierNode); ok && id.Value == "stages" {
			uses = true
		}
		m, ok := (*n).(*ast.MemberNode)
		if !ok || bad != "" {
			return
		}
		if id, ok := m.Node.(*ast.IdentifierNode); ok && id.Value == "stages" {
			if p, ok := m.Property.(*ast.StringNode); ok && !slices.Contains(in.sc.upstreams(), p.Value) {
				bad = p.Value
			}
		}
	}))
	if bad != "" {
		return uses, errors.New(in.unknownName("stages."+bad, bad))
	}
	return uses, nil
}

type visitFunc func(*ast.Node)

func (f visitFunc) Visit(n *ast.Node) { f(n) }

// collectRefs records the variables named as vars.NAME in an expression.
func collectRefs(n ast.Node, refs map[string]bool) {
	ast.Walk(&n, refVisitor(refs))
}

type refVisitor map[string]bool

func (r refVisitor) Visit(n *ast.Node) {
	m, ok := (*n).(*ast.MemberNode)
	if !ok {
		return
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok || id.Value != "vars" {
		return
	}
	if p, ok := m.Property.(*ast.StringNode); ok {
		r[p.Value] = true
	}
}

// functions returns pipe's expression functions. timestamp is frozen once
// per run; file reads relative to dir.
func functions(dir, timestamp string) []expr.Option {
	return []expr.Option{
		expr.Function("timestamp", func(...any) (any, error) { return timestamp, nil },
			new(func() string)),
		expr.Function("file", func(p ...any) (any, error) {
			path := p[0].(string)
			if !filepath.IsAbs(path) {
				path = filepath.Join(dir, path)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("file(%q): %w", p[0], errors.Unwrap(err))
			}
			return string(b), nil
		}, new(func(string) string)),
		expr.Function("sha256", func(p ...any) (any, error) {
			sum := sha256.Sum256([]byte(p[0].(string)))
			return hex.EncodeToString(sum[:]), nil
		}, new(func(string) string)),
	}
}
