package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
)

// SchemaID is the $id of the generated JSON Schema.
const SchemaID = "https://pipe.build/schema/pipe.schema.json"

// exprPattern matches a scalar that is exactly one ${{ }} expression, which
// the decoder accepts in place of any scalar, list or free-form mapping.
const exprPattern = `^\s*\$\{\{.*\}\}\s*$`

// Kinds lists the plugin types the JSON Schema describes. The caller builds
// it from the builder and provisioner registries; package schema knows no
// builder.
type Kinds struct {
	Builders     []BuilderKind
	Provisioners []ProvisionerKind
}

// BuilderKind is one builder type: the pointers its NewConfig, NewSource
// and NewOutput return. Source is nil for a builder without sources, Output
// for one without outputs.
type BuilderKind struct {
	Type           string
	Config, Source any
	Output         any
}

// ProvisionerKind is one provisioner type: the pointer its NewConfig
// returns.
type ProvisionerKind struct {
	Type   string
	Config any
}

// Docs holds doc comments by "pkgpath.TypeName" (a type's) and
// "pkgpath.TypeName.FieldName" (a struct field's). They become the JSON
// Schema's descriptions.
type Docs map[string]string

// Generate returns the JSON Schema (draft 2020-12) of the pipeline file
// with the builders and provisioners of k, described by docs. The output is
// indented, deterministic and ends with a newline.
func Generate(k Kinds, docs Docs) ([]byte, error) {
	g := &generator{docs: docs, defs: map[string]*object{}, names: map[reflect.Type]string{}}
	if err := g.kinds(k); err != nil {
		return nil, err
	}
	fileType := reflect.TypeFor[File]()
	root := newObject().
		set("$schema", "https://json-schema.org/draft/2020-12/schema").
		set("$id", SchemaID).
		set("title", "pipe pipeline file")
	if d := g.typeDoc(fileType); d != "" {
		root.set("description", d)
	}
	body, err := g.structSchema(fileType)
	if err != nil {
		return nil, err
	}
	for _, key := range body.keys {
		root.set(key, body.values[key])
	}
	names := make([]string, 0, len(g.defs))
	for name := range g.defs {
		names = append(names, name)
	}
	slices.Sort(names)
	defs := newObject()
	for _, name := range names {
		defs.set(name, g.defs[name])
	}
	root.set("$defs", defs)

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type generator struct {
	docs  Docs
	defs  map[string]*object
	names map[reflect.Type]string
	// builders and provisioners, sorted by type.
	builders     []BuilderKind
	provisioners []ProvisionerKind
}

var (
	builderType     = reflect.TypeFor[Builder]()
	provisionerType = reflect.TypeFor[Provisioner]()
	stageType       = reflect.TypeFor[Stage]()
	variableType    = reflect.TypeFor[Variable]()
	imageType       = reflect.TypeFor[Image]()
)

// mapElem is implemented by *Map[T].
type mapElem interface{ elemType() reflect.Type }

// kinds checks and sorts the plugin types.
func (g *generator) kinds(k Kinds) error {
	g.builders = slices.Clone(k.Builders)
	g.provisioners = slices.Clone(k.Provisioners)
	slices.SortFunc(g.builders, func(a, b BuilderKind) int { return strings.Compare(a.Type, b.Type) })
	slices.SortFunc(g.provisioners, func(a, b ProvisionerKind) int { return strings.Compare(a.Type, b.Type) })
	for i, b := range g.builders {
		if b.Type == "" {
			return fmt.Errorf("schema: builder with no type")
		}
		if i > 0 && g.builders[i-1].Type == b.Type {
			return fmt.Errorf("schema: builder type %q listed twice", b.Type)
		}
	}
	for i, p := range g.provisioners {
		if p.Type == "" {
			return fmt.Errorf("schema: provisioner with no type")
		}
		if i > 0 && g.provisioners[i-1].Type == p.Type {
			return fmt.Errorf("schema: provisioner type %q listed twice", p.Type)
		}
	}
	return nil
}

// schemaFor returns the schema of values of type t.
func (g *generator) schemaFor(t reflect.Type) (*object, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == rawType:
		// A part decoded later by a type this generator does not know.
		return newObject(), nil
	case t == builderType:
		return g.ref(t, g.builderSchema)
	case t == provisionerType:
		return g.ref(t, g.provisionerSchema)
	case t.Kind() == reflect.Struct && reflect.PointerTo(t).Implements(reflect.TypeFor[mapElem]()):
		elem := reflect.New(t).Interface().(mapElem).elemType()
		s, err := g.schemaFor(elem)
		if err != nil {
			return nil, err
		}
		return newObject().set("type", "object").set("additionalProperties", s), nil
	case reflect.PointerTo(t).Implements(textType):
		return newObject().set("type", "string"), nil
	}
	switch t.Kind() {
	case reflect.Struct:
		return g.ref(t, g.structSchema)
	case reflect.String:
		return newObject().set("type", "string"), nil
	case reflect.Bool:
		return orExpr(newObject().set("type", "boolean")), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return orExpr(newObject().set("type", "integer")), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return orExpr(newObject().set("type", "integer").set("minimum", 0)), nil
	case reflect.Float32, reflect.Float64:
		return orExpr(newObject().set("type", "number")), nil
	case reflect.Interface:
		return newObject(), nil
	case reflect.Slice, reflect.Array:
		s, err := g.schemaFor(t.Elem())
		if err != nil {
			return nil, err
		}
		return g.orExprIf(t, newObject().set("type", "array").set("items", s)), nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("schema: %s: map keys must be strings", t)
		}
		s, err := g.schemaFor(t.Elem())
		if err != nil {
			return nil, err
		}
		return g.orExprIf(t, newObject().set("type", "object").set("additionalProperties", s)), nil
	}
	return nil, fmt.Errorf("schema: cannot describe %s in YAML", t)
}

// orExpr allows a whole-value expression in place of s.
func orExpr(s *object) *object {
	return newObject().set("anyOf", []any{s, exprSchema()})
}

// orExprIf allows a whole-value expression in place of s, a list's or a
// mapping's schema, when an expression's value can be stored in t: when t
// holds only scalars, lists and free-form mappings.
func (g *generator) orExprIf(t reflect.Type, s *object) *object {
	if exprAssignable(t) {
		return orExpr(s)
	}
	return s
}

// exprAssignable reports whether the decoder can store an expression's
// value (plain data) in a value of type t.
func exprAssignable(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(textType) {
		return true
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return t.Kind() == reflect.Slice && exprAssignable(t.Elem())
	case reflect.Map:
		return t.Key().Kind() == reflect.String && exprAssignable(t.Elem())
	case reflect.Struct, reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return false
	}
	return true
}

func exprSchema() *object {
	return newObject().set("type", "string").set("pattern", exprPattern)
}

// ref returns a $ref to the $defs entry of the named type t, generating it
// with build on first use.
func (g *generator) ref(t reflect.Type, build func(reflect.Type) (*object, error)) (*object, error) {
	if t.Name() == "" {
		return build(t)
	}
	name, ok := g.names[t]
	if !ok {
		name = g.defName(t)
		g.names[t] = name
		g.defs[name] = nil // reserved, for recursive types
		s, err := build(t)
		if err != nil {
			return nil, err
		}
		if d := g.typeDoc(t); d != "" && !s.has("description") {
			s = newObject().set("description", d).merge(s)
		}
		g.defs[name] = s
	}
	return newObject().set("$ref", "#/$defs/"+name), nil
}

// defName names t's $defs entry: "Stage" for package schema's types,
// "shell.Config" for others, or the whole package path on a clash.
func (g *generator) defName(t reflect.Type) string {
	pkg := t.PkgPath()
	if pkg == rawType.PkgPath() {
		return t.Name()
	}
	name := path.Base(pkg) + "." + t.Name()
	if _, taken := g.defs[name]; taken {
		name = strings.ReplaceAll(pkg, "/", ".") + "." + t.Name()
	}
	return name
}

func (g *generator) typeDoc(t reflect.Type) string {
	return g.docs[t.PkgPath()+"."+t.Name()]
}

// structSchema returns the object schema of struct type t.
func (g *generator) structSchema(t reflect.Type) (*object, error) {
	props, err := g.properties(t)
	if err != nil {
		return nil, err
	}
	return newObject().
		set("type", "object").
		set("properties", props).
		set("additionalProperties", false), nil
}

// properties returns the schemas of t's keys in field order, with the
// decoder's rules: yaml tags name keys, "-" and unexported fields are not
// keys, an untagged field's key is its lowercased name, and embedded
// untagged structs contribute their keys.
func (g *generator) properties(t reflect.Type) (*object, error) {
	props := newObject()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			sub, err := g.properties(f.Type)
			if err != nil {
				return nil, err
			}
			for _, k := range sub.keys {
				props.set(k, sub.values[k])
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		s, err := g.fieldSchema(t, f)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t, f.Name, err)
		}
		if d := g.docs[t.PkgPath()+"."+t.Name()+"."+f.Name]; d != "" {
			s = newObject().set("description", d).merge(s)
		}
		props.set(name, s)
	}
	return props, nil
}

// fieldSchema returns the schema of field f of struct t. Package schema's
// Raw fields, whose types the decoder learns later, are spelled out here.
func (g *generator) fieldSchema(t reflect.Type, f reflect.StructField) (*object, error) {
	switch {
	case t == stageType && f.Name == "Source":
		var alts []any
		for _, b := range g.builders {
			if b.Source == nil {
				continue
			}
			s, err := g.schemaFor(reflect.TypeOf(b.Source))
			if err != nil {
				return nil, fmt.Errorf("builder %q source: %w", b.Type, err)
			}
			alts = append(alts, s)
		}
		if len(alts) == 0 {
			return newObject().set("not", newObject()), nil
		}
		return newObject().set("anyOf", alts), nil
	case t == stageType && f.Name == "When":
		return g.schemaFor(reflect.TypeFor[bool]())
	case t == stageType && f.Name == "Image":
		return g.schemaFor(imageType)
	case t == stageType && f.Name == "Outputs":
		var alts []any
		for _, b := range g.builders {
			if b.Output == nil {
				continue
			}
			s, err := g.schemaFor(reflect.TypeOf(b.Output))
			if err != nil {
				return nil, fmt.Errorf("builder %q output: %w", b.Type, err)
			}
			alts = append(alts, s)
		}
		items := newObject().set("not", newObject())
		if len(alts) > 0 {
			items = newObject().set("anyOf", alts)
		}
		return newObject().set("type", "array").set("items", items), nil
	case t == variableType && f.Name == "Type":
		return newObject().
			set("type", "string").
			set("enum", []any{"string", "number", "bool", "list", "map"}), nil
	case t == variableType && f.Name == "Default":
		return newObject(), nil
	}
	return g.schemaFor(f.Type)
}

// builderSchema describes a builder entry: a type and, by type, the
// builder's config keys and source.
func (g *generator) builderSchema(t reflect.Type) (*object, error) {
	types := make([]any, 0, len(g.builders))
	var cases []any
	typeDoc := g.docs[t.PkgPath()+"."+t.Name()+".Type"]
	sourceDoc := g.docs[t.PkgPath()+"."+t.Name()+".Source"]
	for _, b := range g.builders {
		types = append(types, yamlValues(b.Type)...)
		props := newObject()
		props.set("type", typeIs(b.Type))
		if b.Source != nil {
			s, err := g.schemaFor(reflect.TypeOf(b.Source))
			if err != nil {
				return nil, fmt.Errorf("builder %q source: %w", b.Type, err)
			}
			if sourceDoc != "" {
				s = newObject().set("description", sourceDoc).merge(s)
			}
			props.set("source", s)
		} else {
			props.set("source", false)
		}
		then := newObject()
		if b.Config != nil {
			ct := reflect.TypeOf(b.Config)
			for ct.Kind() == reflect.Pointer {
				ct = ct.Elem()
			}
			if ct.Kind() != reflect.Struct {
				return nil, fmt.Errorf("schema: builder %q config is %s, not a struct", b.Type, ct)
			}
			if d := g.typeDoc(ct); d != "" {
				then.set("description", d)
			}
			cp, err := g.properties(ct)
			if err != nil {
				return nil, fmt.Errorf("builder %q config: %w", b.Type, err)
			}
			for _, k := range cp.keys {
				if k != "type" && k != "source" { // the decoder skips them
					props.set(k, cp.values[k])
				}
			}
		}
		then.set("properties", props).set("additionalProperties", false)
		cases = append(cases, newObject().
			set("if", newObject().
				set("properties", newObject().set("type", typeIs(b.Type))).
				set("required", []any{"type"})).
			set("then", then))
	}
	typ := newObject()
	if typeDoc != "" {
		typ.set("description", typeDoc)
	}
	typ.set("enum", types)
	s := newObject().
		set("type", "object").
		set("properties", newObject().set("type", typ)).
		set("required", []any{"type"})
	if len(cases) > 0 {
		s.set("allOf", cases)
	}
	return s, nil
}

// typeIs matches a builder's `type:` value.
func typeIs(t string) *object {
	if v := yamlValues(t); len(v) > 1 {
		return newObject().set("enum", v)
	}
	return newObject().set("const", t)
}

// yamlValues returns the JSON values that the plain YAML scalar s may stand
// for in an editor: "null" is also YAML's null, yet the decoder reads the
// scalar's text, so `type: null` names the null builder.
func yamlValues(s string) []any {
	switch s {
	case "null", "Null", "NULL", "~":
		return []any{s, nil}
	}
	return []any{s}
}

// provisionerSchema describes a provisioner item: a mapping with one key,
// the provisioner type, whose value is that type's config.
func (g *generator) provisionerSchema(reflect.Type) (*object, error) {
	alts := make([]any, 0, len(g.provisioners))
	for _, p := range g.provisioners {
		var s *object
		if p.Config == nil {
			s = newObject().set("type", "object").set("additionalProperties", false)
		} else {
			var err error
			if s, err = g.schemaFor(reflect.TypeOf(p.Config)); err != nil {
				return nil, fmt.Errorf("provisioner %q config: %w", p.Type, err)
			}
		}
		alts = append(alts, newObject().
			set("type", "object").
			set("properties", newObject().set(p.Type, s)).
			set("required", []any{p.Type}).
			set("additionalProperties", false))
	}
	s := newObject().
		set("type", "object").
		set("minProperties", 1).
		set("maxProperties", 1)
	if len(alts) > 0 {
		s.set("oneOf", alts)
	} else {
		s.set("not", newObject())
	}
	return s, nil
}

// object is a JSON object that keeps its keys in insertion order.
type object struct {
	keys   []string
	values map[string]any
}

func newObject() *object { return &object{values: map[string]any{}} }

func (o *object) set(key string, v any) *object {
	if _, ok := o.values[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.values[key] = v
	return o
}

func (o *object) has(key string) bool {
	_, ok := o.values[key]
	return ok
}

// merge adds p's entries that o lacks and returns o.
func (o *object) merge(p *object) *object {
	for _, k := range p.keys {
		if !o.has(k) {
			o.set(k, p.values[k])
		}
	}
	return o
}

// MarshalJSON writes the object with its keys in order.
func (o *object) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	buf.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := enc.Encode(k); err != nil {
			return nil, err
		}
		buf.WriteByte(':')
		if err := enc.Encode(o.values[k]); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// SourceDocs reads the doc comments of the types and struct fields of every
// package under root, a module's directory, whose path is module. It skips
// testdata, hidden and underscore directories and _test.go files. Each doc
// is its comment's first paragraph on one line.
func SourceDocs(root, module string) (Docs, error) {
	docs := Docs{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (name == "testdata" || name == "vendor" ||
				strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		pkg := module
		if rel != "." {
			pkg = module + "/" + filepath.ToSlash(rel)
		}
		fileDocs(docs, pkg, f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return docs, nil
}

// fileDocs adds the docs of f's type declarations.
func fileDocs(docs Docs, pkg string, f *ast.File) {
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, spec := range gd.Specs {
			ts := spec.(*ast.TypeSpec)
			doc := ts.Doc
			if doc == nil && len(gd.Specs) == 1 {
				doc = gd.Doc
			}
			key := pkg + "." + ts.Name.Name
			if d := firstParagraph(doc); d != "" {
				docs[key] = d
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			for _, field := range st.Fields.List {
				doc := field.Doc
				if doc == nil {
					doc = field.Comment
				}
				d := firstParagraph(doc)
				if d == "" {
					continue
				}
				for _, n := range field.Names {
					docs[key+"."+n.Name] = d
				}
				if len(field.Names) == 0 { // embedded
					if n := embeddedName(field.Type); n != "" {
						docs[key+"."+n] = d
					}
				}
			}
		}
	}
}

func embeddedName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.Ident:
		return t.Name
	case *ast.StarExpr:
		return embeddedName(t.X)
	case *ast.SelectorExpr:
		return t.Sel.Name
	case *ast.IndexExpr:
		return embeddedName(t.X)
	case *ast.IndexListExpr:
		return embeddedName(t.X)
	}
	return ""
}

// firstParagraph returns a comment's first paragraph on one line.
func firstParagraph(cg *ast.CommentGroup) string {
	if cg == nil {
		return ""
	}
	text := strings.TrimSpace(cg.Text())
	if i := strings.Index(text, "\n\n"); i >= 0 {
		text = text[:i]
	}
	return strings.Join(strings.Fields(text), " ")
}
