package schema

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Interp evaluates the ${{ }} expressions met while decoding. A checking
// Interp compiles and type-checks them and returns zero values of their
// static types; an evaluating one returns their values.
type Interp interface {
	// Eval evaluates a whole-value expression (the scalar is exactly
	// "${{ src }}"), whose result keeps its type.
	Eval(src string, pos Pos) (any, error)
	// Interpolate expands every expression inside a string.
	Interpolate(s string, pos Pos) (string, error)
}

// Typed is what a checking Interp returns for a whole-value expression: its
// static type (nil when it is only known at run time).
type Typed struct{ Type reflect.Type }

// checker is implemented by an Interp that only type-checks.
type checker interface{ Checking() bool }

func (d *Decoder) checking() bool {
	c, ok := d.Interp.(checker)
	return ok && c.Checking()
}

// Decoder decodes YAML nodes into Go values strictly: unknown keys, wrong
// scalar kinds and bad expressions are all reported, with positions, in one
// pass.
type Decoder struct {
	// File names the file in positions.
	File string
	// Interp handles expressions; nil means expressions are not allowed.
	Interp Interp
	// Skip lists top-level mapping keys to ignore (handled by the caller).
	Skip []string

	errs  Errors
	depth int
}

// Decode decodes n into out, which must be a non-nil pointer, and returns
// every problem found.
func (d *Decoder) Decode(n ast.Node, out any) Errors {
	d.errs = nil
	d.depth = 0
	d.decode(n, reflect.ValueOf(out).Elem())
	return d.errs
}

// Pos returns the position of n in d's file.
func (d *Decoder) Pos(n ast.Node) Pos { return NodePos(d.File, n) }

// NodePos returns the position of n.
func NodePos(file string, n ast.Node) Pos {
	if n == nil || n.GetToken() == nil {
		return Pos{File: file}
	}
	// A block mapping's token is the ':' of its first key; its first key
	// is where a reader sees it start.
	if m, ok := n.(*ast.MappingNode); ok && !m.IsFlowStyle && len(m.Values) > 0 {
		n = m.Values[0].Key
	}
	p := n.GetToken().Position
	return Pos{File: file, Line: p.Line, Col: p.Column}
}

// textPos is where a scalar's text starts: past its opening quote, if any.
func (d *Decoder) textPos(n ast.Node) Pos {
	pos := d.Pos(n)
	if tk := n.GetToken(); tk != nil && (tk.Type == token.DoubleQuoteType || tk.Type == token.SingleQuoteType) {
		pos.Col++
	}
	return pos
}

func (d *Decoder) errorf(n ast.Node, format string, args ...any) {
	d.errs.Add(d.Pos(n), format, args...)
}

var (
	posType = reflect.TypeFor[Pos]()
	rawType = reflect.TypeFor[Raw]()
	// keyPosType is the type of a struct's KeyPos field, which receives the
	// position of each key's value.
	keyPosType = reflect.TypeFor[map[string]Pos]()
	textType   = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// customDecoder is implemented by types that decode themselves.
type customDecoder interface {
	decodeYAML(d *Decoder, n ast.Node)
}

func (d *Decoder) decode(n ast.Node, v reflect.Value) {
	n = unwrap(n)
	if n == nil {
		return
	}
	if v.Type() == rawType {
		v.Set(reflect.ValueOf(Raw{Node: n, Pos: d.Pos(n), File: d.File}))
		return
	}
	if v.CanAddr() {
		if c, ok := v.Addr().Interface().(customDecoder); ok {
			c.decodeYAML(d, n)
			return
		}
	}
	if _, isNull := n.(*ast.NullNode); isNull {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	if s, ok := scalarString(n); ok && isWholeExpr(s) {
		d.decodeExpr(n, s, v)
		return
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem())
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(textType) {
		d.decodeText(n, v)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v)
	case reflect.Map:
		d.decodeMap(n, v)
	case reflect.Slice:
		d.decodeSlice(n, v)
	case reflect.Interface:
		v.Set(reflect.ValueOf(d.generic(n)))
	default:
		d.decodeScalar(n, v)
	}
}

// unwrap looks through anchors, aliases and tags.
func unwrap(n ast.Node) ast.Node {
	for {
		switch t := n.(type) {
		case *ast.AnchorNode:
			n = t.Value
		case *ast.AliasNode:
			n = t.Value
		case *ast.TagNode:
			n = t.Value
		case *ast.DocumentNode:
			n = t.Body
		default:
			return n
		}
	}
}

func (d *Decoder) decodeStruct(n ast.Node, v reflect.Value) {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		d.errorf(n, "expected a mapping, got %s", describe(n))
		return
	}
	fields := structFields(v.Type())
	if f := v.FieldByName("Pos"); f.IsValid() && f.Type() == posType {
		f.Set(reflect.ValueOf(d.Pos(n)))
	}
	keyPos := v.FieldByName("KeyPos")
	if keyPos.IsValid() && keyPos.Type() == keyPosType {
		keyPos.Set(reflect.ValueOf(map[string]Pos{}))
	}
	skip := d.Skip
	d.Skip = nil
	seen := map[string]bool{}
	for _, kv := range m.Values {
		key := keyString(kv.Key)
		if contains(skip, key) {
			continue
		}
		f, ok := fields[key]
		if !ok {
			d.errorf(kv.Key, "unknown key %q%s", key, didYouMean(key, append(fieldNames(fields), skip...)))
			continue
		}
		if seen[key] {
			d.errorf(kv.Key, "duplicate key %q", key)
			continue
		}
		seen[key] = true
		if keyPos.IsValid() && keyPos.Type() == keyPosType {
			keyPos.SetMapIndex(reflect.ValueOf(key), reflect.ValueOf(d.Pos(kv.Value)))
		}
		d.decode(kv.Value, v.FieldByIndex(f.Index))
	}
}

func (d *Decoder) decodeMap(n ast.Node, v reflect.Value) {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		d.errorf(n, "expected a mapping, got %s", describe(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, kv := range m.Values {
		key := keyString(kv.Key)
		if v.MapIndex(reflect.ValueOf(key)).IsValid() {
			d.errorf(kv.Key, "duplicate key %q", key)
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(kv.Value, elem)
		v.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), elem)
	}
}

func (d *Decoder) decodeSlice(n ast.Node, v reflect.Value) {
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		d.errorf(n, "expected a list, got %s", describe(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(seq.Values), len(seq.Values))
	for i, e := range seq.Values {
		d.decode(e, out.Index(i))
	}
	v.Set(out)
}

func (d *Decoder) decodeText(n ast.Node, v reflect.Value) {
	raw, _ := scalarString(n)
	s, ok := d.scalar(n)
	if !ok || (d.checking() && strings.Contains(raw, "${{")) {
		return
	}
	if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
		d.errorf(n, "%v", err)
	}
}

// scalar returns a scalar node's text, with expressions interpolated.
func (d *Decoder) scalar(n ast.Node) (string, bool) {
	s, ok := scalarString(n)
	if !ok {
		d.errorf(n, "expected a scalar, got %s", describe(n))
		return "", false
	}
	if _, isString := n.(*ast.StringNode); !isString {
		if _, isLit := n.(*ast.LiteralNode); !isLit {
			return s, true
		}
	}
	return d.interpolate(n, s)
}

func (d *Decoder) interpolate(n ast.Node, s string) (string, bool) {
	if !strings.Contains(s, "${{") {
		return s, true
	}
	if d.Interp == nil {
		d.errorf(n, "expressions are not allowed here")
		return "", false
	}
	out, err := d.Interp.Interpolate(s, d.textPos(n))
	if err != nil {
		d.errs.Append(d.Pos(n), err)
		return "", false
	}
	return out, true
}

func (d *Decoder) decodeScalar(n ast.Node, v reflect.Value) {
	switch n.(type) {
	case *ast.MappingNode, *ast.SequenceNode:
		d.errorf(n, "expected %s, got %s", kindName(v.Type()), describe(n))
		return
	}
	raw, _ := scalarString(n)
	s, ok := d.scalar(n)
	if !ok || (d.checking() && strings.Contains(raw, "${{")) {
		return
	}
	_, quoted := n.(*ast.StringNode)
	if err := setScalar(v, s, quoted && v.Kind() != reflect.String); err != nil {
		d.errorf(n, "%v", err)
	}
}

// setScalar parses s into v by v's kind.
func setScalar(v reflect.Value, s string, quoted bool) error {
	bad := func() error { return fmt.Errorf("expected %s, got %q", kindName(v.Type()), s) }
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil || quoted {
			return bad()
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(s, 0, v.Type().Bits())
		if err != nil || quoted {
			return bad()
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(s, 0, v.Type().Bits())
		if err != nil || quoted {
			return bad()
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, v.Type().Bits())
		if err != nil || quoted {
			return bad()
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("cannot decode into %s", v.Type())
	}
	return nil
}

func (d *Decoder) decodeExpr(n ast.Node, s string, v reflect.Value) {
	if d.Interp == nil {
		d.errorf(n, "expressions are not allowed here")
		return
	}
	val, err := d.Interp.Eval(exprSource(s), d.textPos(n))
	if err != nil {
		d.errs.Append(d.Pos(n), err)
		return
	}
	if t, ok := val.(Typed); ok {
		if !typeFits(v, t.Type) {
			d.errorf(n, "expression %q is %s, expected %s", exprSource(s), kindName(t.Type), kindName(v.Type()))
		}
		return
	}
	if err := assign(v, val); err != nil {
		d.errorf(n, "expression: %v", err)
	}
}

// typeFits reports whether a value of static type t could be stored in v.
func typeFits(v reflect.Value, t reflect.Type) bool {
	if t == nil || t.Kind() == reflect.Interface {
		return true
	}
	if v.CanAddr() && v.Addr().Type().Implements(textType) && t.Kind() == reflect.String {
		return true
	}
	return assign(reflect.New(v.Type()).Elem(), reflect.Zero(t).Interface()) == nil
}

// assign stores an expression's value in v, converting where the conversion
// loses nothing.
func assign(v reflect.Value, val any) error {
	if val == nil {
		v.Set(reflect.Zero(v.Type()))
		return nil
	}
	rv := reflect.ValueOf(val)
	t := v.Type()
	switch {
	case rv.Type().AssignableTo(t):
		v.Set(rv)
	case v.Kind() == reflect.Pointer:
		v.Set(reflect.New(t.Elem()))
		return assign(v.Elem(), val)
	case v.CanAddr() && v.Addr().Type().Implements(textType) && rv.Kind() == reflect.String:
		return v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(rv.String()))
	case isNumber(rv.Kind()) && isNumber(t.Kind()):
		f := toFloat(rv)
		if isInt(t.Kind()) && f != math.Trunc(f) {
			return fmt.Errorf("expected %s, got %v", kindName(t), val)
		}
		v.Set(rv.Convert(t))
	case t.Kind() == reflect.String && (isNumber(rv.Kind()) || rv.Kind() == reflect.Bool):
		v.SetString(fmt.Sprint(val))
	case t.Kind() == reflect.Slice && rv.Kind() == reflect.Slice:
		out := reflect.MakeSlice(t, rv.Len(), rv.Len())
		for i := 0; i < rv.Len(); i++ {
			if err := assign(out.Index(i), rv.Index(i).Interface()); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		v.Set(out)
	case t.Kind() == reflect.Map && rv.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		out := reflect.MakeMap(t)
		for _, k := range rv.MapKeys() {
			e := reflect.New(t.Elem()).Elem()
			if err := assign(e, rv.MapIndex(k).Interface()); err != nil {
				return fmt.Errorf("[%v]: %w", k, err)
			}
			out.SetMapIndex(reflect.ValueOf(fmt.Sprint(k.Interface())).Convert(t.Key()), e)
		}
		v.Set(out)
	default:
		return fmt.Errorf("expected %s, got %s", kindName(t), kindName(rv.Type()))
	}
	return nil
}

func isInt(k reflect.Kind) bool {
	return k >= reflect.Int && k <= reflect.Uint64
}

func isNumber(k reflect.Kind) bool {
	return isInt(k) || k == reflect.Float32 || k == reflect.Float64
}

func toFloat(v reflect.Value) float64 {
	switch {
	case v.Kind() >= reflect.Int && v.Kind() <= reflect.Int64:
		return float64(v.Int())
	case v.Kind() >= reflect.Uint && v.Kind() <= reflect.Uint64:
		return float64(v.Uint())
	}
	return v.Float()
}

// generic decodes n into plain Go values (map[string]any, []any, string,
// int, float64, bool), with expressions evaluated.
func (d *Decoder) generic(n ast.Node) any {
	n = unwrap(n)
	switch t := n.(type) {
	case nil, *ast.NullNode:
		return nil
	case *ast.MappingNode:
		out := map[string]any{}
		for _, kv := range t.Values {
			out[keyString(kv.Key)] = d.generic(kv.Value)
		}
		return out
	case *ast.SequenceNode:
		out := make([]any, len(t.Values))
		for i, e := range t.Values {
			out[i] = d.generic(e)
		}
		return out
	case *ast.StringNode, *ast.LiteralNode:
		s, _ := scalarString(t)
		if isWholeExpr(s) {
			if d.Interp == nil {
				d.errorf(n, "expressions are not allowed here")
				return nil
			}
			v, err := d.Interp.Eval(exprSource(s), d.textPos(n))
			d.errs.Append(d.Pos(n), err)
			if _, typed := v.(Typed); typed {
				return nil
			}
			return v
		}
		s, _ = d.interpolate(n, s)
		return s
	case ast.ScalarNode:
		return t.GetValue()
	}
	d.errorf(n, "unsupported YAML node %s", describe(n))
	return nil
}

// isWholeExpr reports whether s is exactly one ${{ }} expression.
func isWholeExpr(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "${{") && strings.HasSuffix(s, "}}") &&
		strings.Count(s, "${{") == 1 && strings.Index(s, "}}") == len(s)-2
}

// exprSource returns the expression inside a whole-value ${{ }}.
func exprSource(s string) string {
	s = strings.TrimSpace(s)
	return strings.TrimSpace(s[3 : len(s)-2])
}

func scalarString(n ast.Node) (string, bool) {
	switch t := unwrap(n).(type) {
	case *ast.StringNode:
		return t.Value, true
	case *ast.LiteralNode:
		return t.Value.Value, true
	case *ast.MappingNode, *ast.SequenceNode, nil:
		return "", false
	case ast.ScalarNode:
		if tk := t.GetToken(); tk != nil {
			return tk.Value, true
		}
		return fmt.Sprint(t.GetValue()), true
	}
	return "", false
}

func keyString(n ast.Node) string {
	s, _ := scalarString(n)
	return s
}

func describe(n ast.Node) string {
	switch unwrap(n).(type) {
	case *ast.MappingNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.NullNode:
		return "null"
	}
	s, _ := scalarString(n)
	return strconv.Quote(s)
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Pointer:
		return kindName(t.Elem())
	}
	return t.String()
}

type field struct {
	Index []int
}

// structFields maps yaml keys to fields, following embedded structs.
func structFields(t reflect.Type) map[string]field {
	out := map[string]field{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k, sub := range structFields(f.Type) {
				out[k] = field{append([]int{i}, sub.Index...)}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = field{[]int{i}}
	}
	return out
}

func fieldNames(m map[string]field) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
