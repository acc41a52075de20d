package packer

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

type varDecl struct {
	v    *Variable
	typ  cty.Type
	decl bool // declared in the template
}

type localDecl struct {
	name string
	expr hcl.Expression
	attr *hclsyntax.Attribute
}

type sourceDecl struct {
	typ, name string
	block     *hclsyntax.Block
}

type importer struct {
	opts     Options
	dir      string
	json     bool
	r        *Result
	parser   *hclparse.Parser
	bodies   []*hclsyntax.Body
	vars     map[string]*varDecl
	locals   map[string]*localDecl
	data     map[string]*hclsyntax.Block
	dataUsed map[string]bool
	sources  map[string]*sourceDecl
	srcOrd   []string
	builds   []*hclsyntax.Block
	errs     Errors
	ctx      *hcl.EvalContext
	fns      map[string]function.Function
}

// Import reads a Packer template: an HCL2 file, a directory of *.pkr.hcl
// files (with its *.auto.pkrvars.hcl), or a legacy JSON template.
func Import(path string, opts Options) (*Result, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, &Error{Pos: Pos{File: path}, Msg: fmt.Sprintf("cannot read template: %v", err)}
	}
	im := &importer{opts: opts, r: &Result{}, parser: hclparse.NewParser(),
		vars: map[string]*varDecl{}, locals: map[string]*localDecl{}, data: map[string]*hclsyntax.Block{}, dataUsed: map[string]bool{},
		sources: map[string]*sourceDecl{}}
	var files, autoVars []string
	if fi.IsDir() {
		im.dir = path
		ents, err := os.ReadDir(path)
		if err != nil {
			return nil, &Error{Pos: Pos{File: path}, Msg: err.Error()}
		}
		for _, e := range ents {
			n := e.Name()
			switch {
			case e.IsDir():
			case strings.HasSuffix(n, ".pkr.hcl"):
				files = append(files, filepath.Join(path, n))
			case strings.HasSuffix(n, ".pkr.json"):
				return nil, &Error{Pos: Pos{File: filepath.Join(path, n)}, Msg: "HCL JSON templates (.pkr.json) are not supported yet"}
			case strings.HasSuffix(n, ".auto.pkrvars.hcl"), strings.HasSuffix(n, ".auto.pkrvars.json"):
				autoVars = append(autoVars, filepath.Join(path, n))
			}
		}
		if len(files) == 0 {
			return nil, &Error{Pos: Pos{File: path}, Msg: "no *.pkr.hcl files in directory"}
		}
	} else {
		im.dir = filepath.Dir(path)
		switch {
		case strings.HasSuffix(path, ".pkr.json"):
			return nil, &Error{Pos: Pos{File: path}, Msg: "HCL JSON templates (.pkr.json) are not supported yet"}
		case strings.HasSuffix(path, ".json"):
			return importJSON(path, opts)
		default:
			files = []string{path}
		}
	}
	im.r.Files = files
	im.r.Name = pipelineName(path)
	im.fns = functions(im.dir)
	if err := im.load(files); err != nil {
		return nil, err
	}
	im.resolveValues(autoVars)
	if err := im.errs.err(); err != nil {
		return nil, err
	}
	im.buildAll()
	if err := im.errs.err(); err != nil {
		return nil, err
	}
	return im.r, nil
}

func pipelineName(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	base := filepath.Base(abs)
	if fi, err := os.Stat(abs); err == nil && !fi.IsDir() {
		base = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(base, ".json"), ".hcl"), ".pkr")
	}
	return sanitize(base)
}

var nameRE = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

func sanitize(s string) string {
	s = strings.Trim(nameRE.ReplaceAllString(s, "-"), "-")
	if s == "" {
		return "packer"
	}
	return s
}

func (im *importer) root() string {
	if im.opts.Root != "" {
		return im.opts.Root
	}
	return "."
}

func posOf(r hcl.Range) Pos { return Pos{File: r.Filename, Line: r.Start.Line, Col: r.Start.Column} }

func diagErrors(diags hcl.Diagnostics) Errors {
	var es Errors
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		p := Pos{}
		if d.Subject != nil {
			p = posOf(*d.Subject)
		}
		es = append(es, &Error{Pos: p, Msg: msg})
	}
	return es
}

func (im *importer) warn(p Pos, kind, format string, args ...any) {
	im.r.Warnings = append(im.r.Warnings, Warning{Pos: p, Kind: kind, Msg: fmt.Sprintf(format, args...)})
}

// comment formats a warning for the YAML.
func comment(w Warning) string {
	p := w.Pos
	loc := p.File
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d", filepath.Base(p.File), p.Line)
	}
	return fmt.Sprintf("warning (%s): %s [%s]", w.Kind, w.Msg, loc)
}

// account records one template attribute as mapped or warned; warned
// attributes produce their warnings and return the comments for the YAML.
func (im *importer) account(p Pos, problems []problem) []string {
	im.r.total++
	if len(problems) == 0 {
		im.r.mapped++
		return nil
	}
	im.r.warned++
	var cs []string
	for _, pr := range problems {
		w := Warning{Pos: p, Kind: pr.kind, Msg: pr.msg}
		im.r.Warnings = append(im.r.Warnings, w)
		cs = append(cs, comment(w))
	}
	return cs
}

// dropBody accounts every attribute of a body as warned with one warning
// naming them.
func (im *importer) dropBody(p Pos, body *hclsyntax.Body, kind, what string) []string {
	var names []string
	var walk func(b *hclsyntax.Body, prefix string)
	walk = func(b *hclsyntax.Body, prefix string) {
		for _, a := range sortedAttrs(b) {
			names = append(names, prefix+a.Name)
		}
		for _, blk := range b.Blocks {
			walk(blk.Body, prefix+blk.Type+".")
		}
	}
	if body != nil {
		walk(body, "")
	}
	im.r.total += len(names)
	im.r.warned += len(names)
	msg := what
	if len(names) > 0 {
		msg += fmt.Sprintf(" (attributes not imported: %s)", strings.Join(names, ", "))
	}
	w := Warning{Pos: p, Kind: kind, Msg: msg}
	im.r.Warnings = append(im.r.Warnings, w)
	return []string{comment(w)}
}

func sortedAttrs(b *hclsyntax.Body) []*hclsyntax.Attribute {
	as := make([]*hclsyntax.Attribute, 0, len(b.Attributes))
	for _, a := range b.Attributes {
		as = append(as, a)
	}
	sort.Slice(as, func(i, j int) bool { return as[i].SrcRange.Start.Byte < as[j].SrcRange.Start.Byte })
	return as
}

var topSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "packer"}, {Type: "variable", LabelNames: []string{"name"}}, {Type: "variables"},
	{Type: "locals"}, {Type: "local", LabelNames: []string{"name"}},
	{Type: "data", LabelNames: []string{"type", "name"}}, {Type: "source", LabelNames: []string{"type", "name"}},
	{Type: "build"}, {Type: "hcp_packer_registry"},
}}

func (im *importer) load(files []string) error {
	var errs Errors
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, &Error{Pos: Pos{File: f}, Msg: err.Error()})
			continue
		}
		sourceBytes.Store(f, src)
		file, diags := im.parser.ParseHCL(src, f)
		if diags.HasErrors() {
			errs = append(errs, diagErrors(diags)...)
			continue
		}
		body := file.Body.(*hclsyntax.Body)
		if _, diags := body.Content(topSchema); diags.HasErrors() {
			errs = append(errs, diagErrors(diags)...)
			continue
		}
		im.bodies = append(im.bodies, body)
	}
	if len(errs) > 0 {
		return errs
	}
	for _, body := range im.bodies {
		for _, blk := range body.Blocks {
			im.topBlock(blk)
		}
	}
	return im.errs.err()
}

func (im *importer) topBlock(blk *hclsyntax.Block) {
	p := posOf(blk.DefRange())
	switch blk.Type {
	case "packer":
		im.r.Header = append(im.r.Header, im.dropBody(p, blk.Body, KindIgnored, "packer block ignored: pipe has no plugins or version constraints")...)
	case "hcp_packer_registry":
		im.r.Header = append(im.r.Header, im.dropBody(p, blk.Body, KindUnsupported, "hcp_packer_registry: pipe keeps its own cache records and has no HCP registry")...)
	case "variable":
		im.declareVar(blk)
	case "variables":
		for _, a := range sortedAttrs(blk.Body) {
			im.shortVar(a)
		}
	case "locals":
		for _, a := range sortedAttrs(blk.Body) {
			im.addLocal(a.Name, a.Expr, a)
		}
	case "local":
		if a := blk.Body.Attributes["expression"]; a != nil {
			im.addLocal(blk.Labels[0], a.Expr, a)
		}
		if a := blk.Body.Attributes["sensitive"]; a != nil {
			im.r.total++
			im.r.mapped++
		}
	case "data":
		im.data[blk.Labels[0]+"."+blk.Labels[1]] = blk
	case "source":
		k := blk.Labels[0] + "." + blk.Labels[1]
		if prev := im.sources[k]; prev != nil {
			im.errs = append(im.errs, &Error{Pos: p, Msg: fmt.Sprintf("duplicate source %q (first at %s)", k, posOf(prev.block.DefRange()))})
			return
		}
		im.sources[k] = &sourceDecl{typ: blk.Labels[0], name: blk.Labels[1], block: blk}
		im.srcOrd = append(im.srcOrd, k)
	case "build":
		im.builds = append(im.builds, blk)
	}
}

func (im *importer) addLocal(name string, e hcl.Expression, a *hclsyntax.Attribute) {
	if prev := im.locals[name]; prev != nil {
		im.errs = append(im.errs, &Error{Pos: posOf(a.NameRange), Msg: fmt.Sprintf("duplicate local %q", name)})
		return
	}
	im.locals[name] = &localDecl{name: name, expr: e, attr: a}
}

func typeName(t cty.Type) string {
	switch {
	case t == cty.String, t == cty.DynamicPseudoType:
		return "string"
	case t == cty.Number:
		return "number"
	case t == cty.Bool:
		return "bool"
	case t.IsListType(), t.IsSetType(), t.IsTupleType():
		return "list"
	case t.IsMapType(), t.IsObjectType():
		return "map"
	}
	return "string"
}

func (im *importer) declareVar(blk *hclsyntax.Block) {
	name := blk.Labels[0]
	v := &Variable{Name: name, Pos: posOf(blk.DefRange()), Type: "string"}
	d := &varDecl{v: v, typ: cty.DynamicPseudoType, decl: true}
	if prev := im.vars[name]; prev != nil && prev.decl {
		im.errs = append(im.errs, &Error{Pos: v.Pos, Msg: fmt.Sprintf("duplicate variable %q (first at %s)", name, prev.v.Pos)})
		return
	}
	sc := im.defaultScope()
	for _, a := range sortedAttrs(blk.Body) {
		var probs []problem
		switch a.Name {
		case "type":
			t, diags := typeexpr.TypeConstraint(a.Expr)
			if diags.HasErrors() {
				probs = append(probs, problem{KindVariable, fmt.Sprintf("variable %q: type %s not understood; imported as string", name, srcOf(a.Expr))})
			} else {
				d.typ = t
				v.Type = typeName(t)
				if t == cty.DynamicPseudoType {
					probs = append(probs, problem{KindVariable, fmt.Sprintf("variable %q: type any imported as string", name)})
				}
			}
		case "default":
			sc.problems = nil
			sc.attr = "#variable-default"
			val, diags := a.Expr.Value(sc.ctx)
			if diags.HasErrors() {
				probs = append(probs, problem{KindVariable, fmt.Sprintf("variable %q: default %s: %s", name, srcOf(a.Expr), diags[0].Summary)})
				break
			}
			if !val.IsWhollyKnown() {
				probs = append(probs, problem{KindVariable, fmt.Sprintf("variable %q: default %s reads the environment (env()); pipe reads PIPE_VAR_%s instead, so it has no default", name, srcOf(a.Expr), name)})
				if ev, ok := im.envDefault(a.Expr); ok && !sensitiveAttr(blk) {
					v.Default, v.HasDefault = ev, true
					probs[len(probs)-1].msg = fmt.Sprintf("variable %q: default %s read the environment at import time; pipe reads PIPE_VAR_%s at run time", name, srcOf(a.Expr), name)
				}
				break
			}
			if !val.IsNull() {
				v.Default = sc.literal(val)
				v.HasDefault = true
			} else {
				v.Default, v.HasDefault = nil, false
			}
			probs = append(probs, sc.problems...)
		case "description":
			val, diags := a.Expr.Value(nil)
			if !diags.HasErrors() && val.Type() == cty.String && !val.IsNull() {
				v.Description = strings.TrimSpace(val.AsString())
			}
		case "sensitive":
			val, diags := a.Expr.Value(nil)
			if !diags.HasErrors() && val.Type() == cty.Bool && !val.IsNull() {
				v.Sensitive = val.True()
			}
		default:
			probs = append(probs, problem{KindUnsupported, fmt.Sprintf("variable %q: attribute %s has no pipe equivalent", name, a.Name)})
		}
		v.Comments = append(v.Comments, im.account(posOf(a.NameRange), probs)...)
	}
	for _, vb := range blk.Body.Blocks {
		if vb.Type != "validation" {
			v.Comments = append(v.Comments, im.dropBody(posOf(vb.DefRange()), vb.Body, KindUnsupported, "variable "+name+": block "+vb.Type+" not understood")...)
			continue
		}
		cond, msg := vb.Body.Attributes["condition"], vb.Body.Attributes["error_message"]
		var val Validation
		var probs []problem
		if cond != nil {
			vs := im.defaultScope()
			vs.ctx = im.ctx // var.* unknown
			x, err := vs.expr(cond.Expr)
			if err != nil {
				probs = append(probs, problem{KindExpression, fmt.Sprintf("variable %q: validation condition %s: %v; not imported", name, srcOf(cond.Expr), err)})
			} else {
				val.Condition = "${{ " + x + " }}"
			}
			v.Comments = append(v.Comments, im.account(posOf(cond.NameRange), probs)...)
		}
		if msg != nil {
			mv, diags := msg.Expr.Value(nil)
			if !diags.HasErrors() && mv.Type() == cty.String {
				val.Message = mv.AsString()
			}
			v.Comments = append(v.Comments, im.account(posOf(msg.NameRange), nil)...)
		}
		for _, a := range sortedAttrs(vb.Body) {
			if a.Name != "condition" && a.Name != "error_message" {
				v.Comments = append(v.Comments, im.account(posOf(a.NameRange), []problem{{KindUnsupported, "validation attribute " + a.Name + " not understood"}})...)
			}
		}
		if val.Condition != "" {
			v.Validation = append(v.Validation, val)
		}
	}
	if !v.HasDefault && d.typ != cty.DynamicPseudoType {
		v.Type = typeName(d.typ)
	} else if v.HasDefault && d.typ == cty.DynamicPseudoType {
		v.Type = guessType(v.Default)
	}
	im.addVar(d)
}

func guessType(v any) string {
	switch v.(type) {
	case bool:
		return "bool"
	case int64, float64:
		return "number"
	case []any:
		return "list"
	case *OMap:
		return "map"
	}
	return "string"
}

func (im *importer) addVar(d *varDecl) {
	if _, ok := im.vars[d.v.Name]; !ok {
		im.r.Variables = append(im.r.Variables, d.v)
	} else {
		for i, v := range im.r.Variables {
			if v.Name == d.v.Name {
				im.r.Variables[i] = d.v
			}
		}
	}
	im.vars[d.v.Name] = d
}

func (im *importer) shortVar(a *hclsyntax.Attribute) {
	v := &Variable{Name: a.Name, Pos: posOf(a.NameRange), Type: "string"}
	sc := im.defaultScope()
	val, diags := a.Expr.Value(sc.ctx)
	var probs []problem
	if diags.HasErrors() || !val.IsWhollyKnown() {
		probs = append(probs, problem{KindVariable, fmt.Sprintf("variable %q: default %s not imported", a.Name, srcOf(a.Expr))})
	} else if !val.IsNull() {
		v.Default, v.HasDefault = sc.literal(val), true
		v.Type = guessType(v.Default)
		probs = append(probs, sc.problems...)
	}
	v.Comments = im.account(v.Pos, probs)
	im.addVar(&varDecl{v: v, typ: cty.DynamicPseudoType, decl: true})
}

// envDefault evaluates a default that calls env() with the import's
// environment, when Options.Environ is given and the variable is set.
func (im *importer) envDefault(e hcl.Expression) (any, bool) {
	if im.opts.Environ == nil {
		return nil, false
	}
	env := map[string]string{}
	for _, kv := range im.opts.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	ctx := &hcl.EvalContext{Functions: map[string]function.Function{"env": strFunc(func(s string) (string, error) {
		return env[s], nil
	})}}
	v, diags := e.Value(ctx)
	if diags.HasErrors() || !v.IsWhollyKnown() || v.IsNull() {
		return nil, false
	}
	sc := im.defaultScope()
	return sc.literal(v), true
}

// sensitiveAttr reports whether a variable block says sensitive = true,
// whatever the order of its attributes.
func sensitiveAttr(blk *hclsyntax.Block) bool {
	a := blk.Body.Attributes["sensitive"]
	if a == nil {
		return false
	}
	val, diags := a.Expr.Value(nil)
	return !diags.HasErrors() && val.Type() == cty.Bool && !val.IsNull() && val.True()
}

// defaultScope is the context of variable defaults: only env(), which is
// unknown at import time.
func (im *importer) defaultScope() *scope {
	return &scope{im: im, ctx: &hcl.EvalContext{Functions: map[string]function.Function{"env": unknownFunc(1)}}}
}

// useVar declares a variable that a template refers to without declaring.
func (im *importer) useVar(name string, s *scope) {
	if _, ok := im.vars[name]; ok {
		return
	}
	v := &Variable{Name: name, Type: "string"}
	im.addVar(&varDecl{v: v, typ: cty.DynamicPseudoType})
}
