package packer

import (
	"fmt"
	"math/big"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

func renderTemplateFile(path string, vars cty.Value, fns map[string]function.Function) (cty.Value, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return cty.NilVal, err
	}
	t, diags := hclsyntax.ParseTemplate(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: map[string]function.Function{}}
	for k, f := range fns {
		if k != "templatefile" {
			ctx.Functions[k] = f
		}
	}
	if !vars.IsNull() && vars.CanIterateElements() {
		for it := vars.ElementIterator(); it.Next(); {
			k, v := it.Element()
			ctx.Variables[k.AsString()] = v
		}
	}
	v, diags := t.Value(ctx)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	return v, nil
}

// scope is where an expression is evaluated: the shared context plus
// build and source names.
type scope struct {
	im  *importer
	ctx *hcl.EvalContext
	// attr is the attribute being translated (for go-template rules).
	attr string
	// provType is the provisioner type, for {{.Path}}-style placeholders.
	provType  string
	buildName string
	srcType   string
	srcName   string
	// problems collects what could not be translated.
	problems []problem
	// undeclared variable references already reported
	stack []string
}

type problem struct {
	kind string
	msg  string
}

func (s *scope) fail(kind, format string, args ...any) {
	s.problems = append(s.problems, problem{kind, fmt.Sprintf(format, args...)})
}

// translate turns an expression into a YAML value: a literal when its
// value is known at import time, else pipe `${{ }}` expressions.
func (s *scope) translate(e hcl.Expression) any {
	v, diags := e.Value(s.ctx)
	if !diags.HasErrors() && v.IsWhollyKnown() {
		return s.literal(v)
	}
	switch e := e.(type) {
	case *hclsyntax.TupleConsExpr:
		l := []any{}
		for _, x := range e.Exprs {
			l = append(l, s.translate(x))
		}
		return l
	case *hclsyntax.ObjectConsExpr:
		m := &OMap{}
		for _, it := range e.Items {
			kv, d := it.KeyExpr.Value(s.ctx)
			if d.HasErrors() || !kv.IsKnown() || kv.Type() != cty.String {
				s.fail(KindExpression, "map key %s is not known at import time", srcOf(it.KeyExpr))
				continue
			}
			m.Set(kv.AsString(), s.translate(it.ValueExpr))
		}
		return m
	case *hclsyntax.ConditionalExpr:
		if v, ok := s.conditional(e); ok {
			return v
		}
	case *hclsyntax.TemplateExpr:
		var b strings.Builder
		for _, p := range e.Parts {
			if lit, ok := p.(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.String {
				b.WriteString(s.goTemplate(lit.Val.AsString()))
				continue
			}
			if pv, d := p.Value(s.ctx); !d.HasErrors() && pv.IsWhollyKnown() && pv.Type() == cty.String {
				b.WriteString(s.goTemplate(pv.AsString()))
				continue
			}
			if s.attr == "ami_name" && s.impure(p, 0) {
				s.fail(KindSemantics, "`%s` dropped from ami_name: pipe appends the node's action id, which is unique per build", srcOf(p))
				continue
			}
			x, err := s.expr(p)
			if err != nil {
				s.fail(KindExpression, "cannot translate `%s`: %v; kept as text", srcOf(p), err)
				b.WriteString("${" + srcOf(p) + "}")
				continue
			}
			b.WriteString("${{ " + x + " }}")
		}
		return b.String()
	}
	x, err := s.expr(e)
	if err != nil {
		s.fail(KindExpression, "cannot translate `%s`: %v; kept as text", srcOf(e), err)
		return srcOf(e)
	}
	return "${{ " + x + " }}"
}

// literal converts a known cty value into a YAML value, translating go
// templates in its strings.
func (s *scope) literal(v cty.Value) any {
	if v.IsNull() {
		return nil
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return s.goTemplate(v.AsString())
	case t == cty.Bool:
		return v.True()
	case t == cty.Number:
		bf := v.AsBigFloat()
		if bf.IsInt() {
			i, acc := bf.Int64()
			if acc == big.Exact {
				return i
			}
		}
		f, _ := bf.Float64()
		return f
	case t.IsListType() || t.IsTupleType() || t.IsSetType():
		l := []any{}
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			l = append(l, s.literal(ev))
		}
		return l
	case t.IsMapType() || t.IsObjectType():
		m := &OMap{}
		var keys []string
		vals := map[string]cty.Value{}
		for it := v.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			keys = append(keys, k.AsString())
			vals[k.AsString()] = ev
		}
		sort.Strings(keys)
		for _, k := range keys {
			m.Set(k, s.literal(vals[k]))
		}
		return m
	}
	s.fail(KindExpression, "value of type %s kept as text", t.FriendlyName())
	return v.GoString()
}

// exprLit renders a known value as an expr-lang literal.
func exprLit(v cty.Value) (string, error) {
	if v.IsNull() {
		return "nil", nil
	}
	if !v.IsWhollyKnown() {
		return "", fmt.Errorf("value not known at import time")
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return strconv.Quote(v.AsString()), nil
	case t == cty.Bool:
		return strconv.FormatBool(v.True()), nil
	case t == cty.Number:
		return v.AsBigFloat().Text('g', -1), nil
	case t.IsListType() || t.IsTupleType() || t.IsSetType():
		var parts []string
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			p, err := exprLit(ev)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	case t.IsMapType() || t.IsObjectType():
		var parts []string
		for it := v.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			p, err := exprLit(ev)
			if err != nil {
				return "", err
			}
			parts = append(parts, strconv.Quote(k.AsString())+": "+p)
		}
		return "{" + strings.Join(parts, ", ") + "}", nil
	}
	return "", fmt.Errorf("unsupported value type %s", t.FriendlyName())
}

var binOps = map[*hclsyntax.Operation]string{
	hclsyntax.OpLogicalOr: "||", hclsyntax.OpLogicalAnd: "&&", hclsyntax.OpEqual: "==", hclsyntax.OpNotEqual: "!=",
	hclsyntax.OpGreaterThan: ">", hclsyntax.OpGreaterThanOrEqual: ">=", hclsyntax.OpLessThan: "<",
	hclsyntax.OpLessThanOrEqual: "<=", hclsyntax.OpAdd: "+", hclsyntax.OpSubtract: "-", hclsyntax.OpMultiply: "*",
	hclsyntax.OpDivide: "/", hclsyntax.OpModulo: "%",
}

// expr translates an HCL expression into an expr-lang expression over
// `vars` and `env`.
func (s *scope) expr(e hcl.Expression) (string, error) {
	if v, d := e.Value(s.ctx); !d.HasErrors() && v.IsWhollyKnown() {
		if v.Type() == cty.String {
			return strconv.Quote(s.goTemplateRaw(v.AsString())), nil
		}
		return exprLit(v)
	}
	switch e := e.(type) {
	case *hclsyntax.ScopeTraversalExpr:
		return s.traversal(e.Traversal)
	case *hclsyntax.TemplateWrapExpr:
		return s.expr(e.Wrapped)
	case *hclsyntax.ParenthesesExpr:
		x, err := s.expr(e.Expression)
		return "(" + x + ")", err
	case *hclsyntax.TemplateExpr:
		var parts []string
		for _, p := range e.Parts {
			x, err := s.expr(p)
			if err != nil {
				return "", err
			}
			if lit, ok := p.(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.String {
				parts = append(parts, x)
			} else {
				parts = append(parts, "string("+x+")")
			}
		}
		if len(parts) == 0 {
			return `""`, nil
		}
		return "(" + strings.Join(parts, " + ") + ")", nil
	case *hclsyntax.ConditionalExpr:
		c, err := s.expr(e.Condition)
		if err != nil {
			return "", err
		}
		a, err := s.expr(e.TrueResult)
		if err != nil {
			return "", err
		}
		b, err := s.expr(e.FalseResult)
		if err != nil {
			return "", err
		}
		return "(" + c + " ? " + a + " : " + b + ")", nil
	case *hclsyntax.BinaryOpExpr:
		op, ok := binOps[e.Op]
		if !ok {
			return "", fmt.Errorf("unsupported operator")
		}
		a, err := s.expr(e.LHS)
		if err != nil {
			return "", err
		}
		b, err := s.expr(e.RHS)
		if err != nil {
			return "", err
		}
		return "(" + a + " " + op + " " + b + ")", nil
	case *hclsyntax.UnaryOpExpr:
		a, err := s.expr(e.Val)
		if err != nil {
			return "", err
		}
		if e.Op == hclsyntax.OpLogicalNot {
			return "!" + a, nil
		}
		return "-" + a, nil
	case *hclsyntax.IndexExpr:
		a, err := s.expr(e.Collection)
		if err != nil {
			return "", err
		}
		k, err := s.expr(e.Key)
		if err != nil {
			return "", err
		}
		return a + "[" + k + "]", nil
	case *hclsyntax.RelativeTraversalExpr:
		a, err := s.expr(e.Source)
		if err != nil {
			return "", err
		}
		rest, err := traversalRest(e.Traversal)
		return a + rest, err
	case *hclsyntax.TupleConsExpr:
		var parts []string
		for _, x := range e.Exprs {
			p, err := s.expr(x)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	case *hclsyntax.ObjectConsExpr:
		var parts []string
		for _, it := range e.Items {
			kv, d := it.KeyExpr.Value(s.ctx)
			if d.HasErrors() || !kv.IsKnown() || kv.Type() != cty.String {
				return "", fmt.Errorf("map key not known at import time")
			}
			p, err := s.expr(it.ValueExpr)
			if err != nil {
				return "", err
			}
			parts = append(parts, strconv.Quote(kv.AsString())+": "+p)
		}
		return "{" + strings.Join(parts, ", ") + "}", nil
	case *hclsyntax.FunctionCallExpr:
		return s.call(e)
	}
	return "", fmt.Errorf("pipe has no equivalent of this %s", exprKind(e))
}

func exprKind(e hcl.Expression) string {
	switch e.(type) {
	case *hclsyntax.ForExpr:
		return "for expression"
	case *hclsyntax.SplatExpr:
		return "splat expression"
	}
	return "expression"
}

func traversalRest(t hcl.Traversal) (string, error) {
	var b strings.Builder
	for _, step := range t {
		switch st := step.(type) {
		case hcl.TraverseAttr:
			b.WriteString("." + st.Name)
		case hcl.TraverseIndex:
			l, err := exprLit(st.Key)
			if err != nil {
				return "", err
			}
			b.WriteString("[" + l + "]")
		default:
			return "", fmt.Errorf("unsupported traversal")
		}
	}
	return b.String(), nil
}

func (s *scope) traversal(t hcl.Traversal) (string, error) {
	root := t.RootName()
	rest := t[1:]
	switch root {
	case "var":
		if len(rest) == 0 {
			return "", fmt.Errorf("var needs a name")
		}
		a, ok := rest[0].(hcl.TraverseAttr)
		if !ok {
			return "", fmt.Errorf("var needs a name")
		}
		tail, err := traversalRest(rest[1:])
		return "vars." + a.Name + tail, err
	case "local":
		if len(rest) == 0 {
			return "", fmt.Errorf("local needs a name")
		}
		a, ok := rest[0].(hcl.TraverseAttr)
		if !ok {
			return "", fmt.Errorf("local needs a name")
		}
		l := s.im.locals[a.Name]
		if l == nil {
			return "", fmt.Errorf("local.%s is not declared", a.Name)
		}
		for _, n := range s.stack {
			if n == a.Name {
				return "", fmt.Errorf("local.%s refers to itself", a.Name)
			}
		}
		s.stack = append(s.stack, a.Name)
		defer func() { s.stack = s.stack[:len(s.stack)-1] }()
		x, err := s.expr(l.expr)
		if err != nil {
			return "", fmt.Errorf("local.%s: %w", a.Name, err)
		}
		tail, err := traversalRest(rest[1:])
		return "(" + x + ")" + tail, err
	case "build":
		return "", fmt.Errorf("build.%s is only known while the image is built", traversalName(rest))
	case "data":
		return "", fmt.Errorf("data source values are only known at build time")
	case "packer":
		return "", fmt.Errorf("packer.%s has no pipe equivalent", traversalName(rest))
	}
	return "", fmt.Errorf("%s is not known at import time", root)
}

func traversalName(t hcl.Traversal) string {
	if len(t) > 0 {
		if a, ok := t[0].(hcl.TraverseAttr); ok {
			return a.Name
		}
	}
	return "?"
}

// call translates the functions expr-lang has an equivalent for.
func (s *scope) call(e *hclsyntax.FunctionCallExpr) (string, error) {
	args := make([]string, len(e.Args))
	for i, a := range e.Args {
		x, err := s.expr(a)
		if err != nil {
			return "", err
		}
		args[i] = x
	}
	n := len(args)
	want := func(k int) error {
		if n != k {
			return fmt.Errorf("%s takes %d arguments", e.Name, k)
		}
		return nil
	}
	switch e.Name {
	case "timestamp":
		return "timestamp()", nil
	case "lower", "upper":
		return e.Name + "(" + strings.Join(args, ", ") + ")", want(1)
	case "trimspace":
		return "trim(" + strings.Join(args, ", ") + ")", want(1)
	case "trimprefix":
		return "trimPrefix(" + strings.Join(args, ", ") + ")", want(2)
	case "trimsuffix":
		return "trimSuffix(" + strings.Join(args, ", ") + ")", want(2)
	case "startswith":
		return "hasPrefix(" + strings.Join(args, ", ") + ")", want(2)
	case "endswith":
		return "hasSuffix(" + strings.Join(args, ", ") + ")", want(2)
	case "length":
		return "len(" + strings.Join(args, ", ") + ")", want(1)
	case "join":
		if err := want(2); err != nil {
			return "", err
		}
		return "join(" + args[1] + ", " + args[0] + ")", nil
	case "split":
		if err := want(2); err != nil {
			return "", err
		}
		return "split(" + args[1] + ", " + args[0] + ")", nil
	case "replace":
		if err := want(3); err != nil {
			return "", err
		}
		if strings.HasPrefix(args[1], `"/`) {
			return "", fmt.Errorf("replace with a regular expression has no pipe equivalent")
		}
		return "replace(" + strings.Join(args, ", ") + ")", nil
	case "contains":
		if err := want(2); err != nil {
			return "", err
		}
		return "(" + args[1] + " in " + args[0] + ")", nil
	case "coalesce":
		if n == 0 {
			return "", fmt.Errorf("coalesce needs arguments")
		}
		x := args[n-1]
		for i := n - 2; i >= 0; i-- {
			x = "((" + args[i] + " ?? \"\") != \"\" ? " + args[i] + " : " + x + ")"
		}
		return x, nil
	case "file":
		return "file(" + strings.Join(args, ", ") + ")", want(1)
	case "compact":
		return "filter(" + strings.Join(args, ", ") + `, # != "")`, want(1)
	case "sha256":
		return "sha256(" + strings.Join(args, ", ") + ")", want(1)
	case "can":
		if len(e.Args) == 1 {
			if inner, ok := e.Args[0].(*hclsyntax.FunctionCallExpr); ok && inner.Name == "regex" && len(inner.Args) == 2 {
				re, err := s.expr(inner.Args[0])
				if err != nil {
					return "", err
				}
				str, err := s.expr(inner.Args[1])
				if err != nil {
					return "", err
				}
				return "(" + str + " matches " + re + ")", nil
			}
		}
	case "format":
		if n >= 1 {
			fv, d := e.Args[0].Value(s.ctx)
			if !d.HasErrors() && fv.IsKnown() && fv.Type() == cty.String {
				return formatExpr(fv.AsString(), args[1:])
			}
		}
	}
	return "", fmt.Errorf("function %s() has no pipe equivalent", e.Name)
}

// formatExpr translates format() with %s, %d and %v verbs into a string
// concatenation.
func formatExpr(f string, args []string) (string, error) {
	var parts []string
	var lit strings.Builder
	ai := 0
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' {
			lit.WriteByte(c)
			continue
		}
		if i+1 >= len(f) {
			return "", fmt.Errorf("bad format string")
		}
		i++
		switch f[i] {
		case '%':
			lit.WriteByte('%')
		case 's', 'd', 'v':
			if ai >= len(args) {
				return "", fmt.Errorf("format has too few arguments")
			}
			if lit.Len() > 0 {
				parts = append(parts, strconv.Quote(lit.String()))
				lit.Reset()
			}
			parts = append(parts, "string("+args[ai]+")")
			ai++
		default:
			return "", fmt.Errorf("format verb %%%c has no pipe equivalent", f[i])
		}
	}
	if lit.Len() > 0 {
		parts = append(parts, strconv.Quote(lit.String()))
	}
	if len(parts) == 0 {
		return `""`, nil
	}
	return "(" + strings.Join(parts, " + ") + ")", nil
}

func srcOf(e hcl.Expression) string {
	r := e.Range()
	v, _ := sourceBytes.Load(r.Filename)
	if src, _ := v.([]byte); src != nil && r.End.Byte <= len(src) && r.Start.Byte <= r.End.Byte {
		return string(src[r.Start.Byte:r.End.Byte])
	}
	return "…"
}

// sourceBytes holds the template sources by file name, for quoting.
var sourceBytes sync.Map

// impure reports whether an expression (through locals) calls a function
// whose value changes at each build, such as timestamp().
func (s *scope) impure(e hcl.Expression, depth int) bool {
	if depth > 10 {
		return false
	}
	found := false
	hclsyntax.VisitAll(e.(hclsyntax.Node), func(n hclsyntax.Node) hcl.Diagnostics {
		switch n := n.(type) {
		case *hclsyntax.FunctionCallExpr:
			if impure[n.Name] {
				found = true
			}
		case *hclsyntax.ScopeTraversalExpr:
			if n.Traversal.RootName() == "local" && len(n.Traversal) > 1 {
				if a, ok := n.Traversal[1].(hcl.TraverseAttr); ok {
					if l := s.im.locals[a.Name]; l != nil && s.impure(l.expr, depth+1) {
						found = true
					}
				}
			}
		case *hclsyntax.LiteralValueExpr:
			if n.Val.Type() == cty.String && strings.Contains(n.Val.AsString(), "{{timestamp}}") {
				found = true
			}
		}
		return nil
	})
	return found
}

// isNull reports whether e is the literal null.
func isNull(e hcl.Expression) bool {
	l, ok := e.(*hclsyntax.LiteralValueExpr)
	return ok && l.Val.IsNull()
}

// conditional translates a conditional whose value is not known at import
// time, aware of the type the attribute needs. A condition known at import
// is folded to its branch. When one branch is null (Packer: leave the
// attribute unset), the conditional takes the other branch's type,
// converted to the bool or number pipe needs for the attribute; when that
// cannot be done, the attribute is left out with a warning (nil) rather
// than given a value of the wrong type. ok is false for conditionals this
// does not handle, which translate as a plain expression.
func (s *scope) conditional(e *hclsyntax.ConditionalExpr) (any, bool) {
	if c, d := e.Condition.Value(s.ctx); !d.HasErrors() && c.IsKnown() && !c.IsNull() && c.Type() == cty.Bool {
		if c.True() {
			return s.translate(e.TrueResult), true
		}
		return s.translate(e.FalseResult), true
	}
	var other hcl.Expression
	nullTrue := isNull(e.TrueResult)
	switch {
	case nullTrue && !isNull(e.FalseResult):
		other = e.FalseResult
	case isNull(e.FalseResult) && !nullTrue:
		other = e.TrueResult
	default:
		return nil, false
	}
	typ := ""
	switch {
	case boolKeys[s.attr]:
		typ = "bool"
	case intKeys[s.attr]:
		typ = "number"
	default:
		return nil, false
	}
	leaveOut := func(why string) (any, bool) {
		s.fail(KindExpression, "%s = `%s`: %s; attribute left out (Packer's default applies)", s.attr, srcOf(e), why)
		return nil, true
	}
	c, err := s.expr(e.Condition)
	if err != nil {
		return leaveOut(err.Error())
	}
	o, err := s.expr(other)
	if err != nil {
		return leaveOut(err.Error())
	}
	// The other branch's type: a variable's declared type, else what its
	// value at import says.
	otyp := ""
	if t, ok := other.(*hclsyntax.ScopeTraversalExpr); ok && len(t.Traversal) == 2 && t.Traversal.RootName() == "var" {
		if a, ok := t.Traversal[1].(hcl.TraverseAttr); ok {
			if v := s.im.r.variable(a.Name); v != nil {
				otyp = v.Type
			}
		}
	} else if v, d := other.Value(s.ctx); !d.HasErrors() && v.Type() != cty.DynamicPseudoType {
		switch v.Type() {
		case cty.String:
			otyp = "string"
		case cty.Bool:
			otyp = "bool"
		case cty.Number:
			otyp = "number"
		}
	}
	switch {
	case otyp == typ:
	case (otyp == "string" || otyp == "") && typ == "bool":
		// Packer converts the strings "true" and "false".
		o = "(string(" + o + ") == \"true\")"
	case (otyp == "string" || otyp == "") && typ == "number":
		o = "int(" + o + ")"
	default:
		return leaveOut(fmt.Sprintf("the non-null branch is a %s where pipe needs a %s", otyp, typ))
	}
	if nullTrue {
		return "${{ (" + c + " ? nil : " + o + ") }}", true
	}
	return "${{ (" + c + " ? " + o + " : nil) }}", true
}
