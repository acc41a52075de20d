package packer

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// resolveValues applies values in Packer's precedence and builds the
// evaluation context.
func (im *importer) resolveValues(autoVars []string) {
	// Undeclared references: a positioned warning each, and a declaration
	// with no default.
	for _, body := range im.bodies {
		hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
			st, ok := n.(*hclsyntax.ScopeTraversalExpr)
			if !ok || st.Traversal.RootName() != "var" || len(st.Traversal) < 2 {
				return nil
			}
			a, ok := st.Traversal[1].(hcl.TraverseAttr)
			if !ok {
				return nil
			}
			if _, ok := im.vars[a.Name]; !ok {
				im.warn(posOf(st.SrcRange), KindVariable, "reference to undeclared variable %q: declared with no default, so pipe asks for a value", a.Name)
				v := &Variable{Name: a.Name, Type: "string", Pos: posOf(st.SrcRange),
					Comments: []string{fmt.Sprintf("warning (variable): undeclared in the template, first used at %s:%d", st.SrcRange.Filename, st.SrcRange.Start.Line)}}
				im.addVar(&varDecl{v: v, typ: cty.DynamicPseudoType})
			}
			return nil
		})
	}
	set := func(name string, val cty.Value, from Pos, literal bool) {
		d := im.vars[name]
		if d == nil {
			im.warn(from, KindVariable, "value for undeclared variable %q ignored", name)
			return
		}
		if d.typ != cty.DynamicPseudoType {
			cv, err := convert.Convert(val, d.typ)
			if err != nil {
				im.errs = append(im.errs, &Error{Pos: from, Msg: fmt.Sprintf("variable %q: %v", name, err)})
				return
			}
			val = cv
		}
		if d.v.Sensitive {
			im.warn(from, KindVariable, "value of sensitive variable %q not written to the pipeline: give it to pipe with --var or PIPE_VAR_%s", name, name)
			return
		}
		sc := &scope{im: im}
		d.v.Default, d.v.HasDefault = sc.literal(val), !val.IsNull()
		if d.typ == cty.DynamicPseudoType {
			d.v.Type = guessType(d.v.Default)
		}
	}
	// PKR_VAR_<name>, for declared variables only.
	for _, kv := range im.opts.Environ {
		k, v, ok := strings.Cut(kv, "=")
		if name, ok2 := strings.CutPrefix(k, "PKR_VAR_"); ok && ok2 {
			if d := im.vars[name]; d != nil && d.decl {
				set(name, im.cliValue(d, v), Pos{File: "PKR_VAR_" + name}, true)
			}
		}
	}
	for _, f := range append(autoVars, im.opts.VarFiles...) {
		im.readVarFile(f, set)
	}
	for _, name := range sortedKeys(im.opts.Vars) {
		d := im.vars[name]
		if d == nil || !d.decl {
			im.errs = append(im.errs, &Error{Pos: Pos{File: "-var"}, Msg: fmt.Sprintf("variable %q is not declared in the template", name)})
			continue
		}
		set(name, im.cliValue(d, im.opts.Vars[name]), Pos{File: "-var " + name}, true)
	}
	im.buildContext()
}

// cliValue parses a -var or PKR_VAR_ value as Packer does: a literal
// string for string, number and untyped variables, else an HCL expression.
func (im *importer) cliValue(d *varDecl, s string) cty.Value {
	t := d.typ
	if t == cty.String || t == cty.Number || t == cty.DynamicPseudoType || t == cty.Bool {
		return cty.StringVal(s)
	}
	e, diags := hclsyntax.ParseExpression([]byte(s), "-var", hcl.InitialPos)
	if diags.HasErrors() {
		return cty.StringVal(s)
	}
	v, diags := e.Value(nil)
	if diags.HasErrors() {
		return cty.StringVal(s)
	}
	return v
}

func (im *importer) readVarFile(f string, set func(string, cty.Value, Pos, bool)) {
	src, err := os.ReadFile(f)
	if err != nil {
		im.errs = append(im.errs, &Error{Pos: Pos{File: f}, Msg: fmt.Sprintf("cannot read var file: %v", err)})
		return
	}
	if strings.HasSuffix(f, ".json") {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(src, &m); err != nil {
			im.errs = append(im.errs, jsonError(f, src, err))
			return
		}
		for _, k := range sortedKeys(m) {
			t, err := ctyjson.ImpliedType(m[k])
			if err != nil {
				continue
			}
			v, err := ctyjson.Unmarshal(m[k], t)
			if err != nil {
				continue
			}
			set(k, v, Pos{File: f, Line: 1, Col: 1}, false)
		}
		return
	}
	sourceBytes.Store(f, src)
	file, diags := im.parser.ParseHCL(src, f)
	if diags.HasErrors() {
		im.errs = append(im.errs, diagErrors(diags)...)
		return
	}
	body := file.Body.(*hclsyntax.Body)
	for _, b := range body.Blocks {
		if b.Type == "variable" {
			im.errs = append(im.errs, &Error{Pos: posOf(b.DefRange()), Msg: "Variable declaration in a .pkrvar file"})
		}
	}
	for _, a := range sortedAttrs(body) {
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			im.errs = append(im.errs, diagErrors(diags)...)
			continue
		}
		set(a.Name, v, posOf(a.NameRange), false)
	}
}

var runtimeBuild = []string{"ID", "Host", "Port", "User", "Password", "ConnType", "PackerRunUUID", "PackerHTTPIP",
	"PackerHTTPPort", "PackerHTTPAddr", "SSHPublicKey", "SSHPrivateKey", "WinRMPassword", "SourceAMI",
	"SourceAMIName", "SourceAMIOwner", "SourceAMIOwnerName", "SourceAMICreationDate", "BuildRegion", "SourceImageName"}

func (im *importer) buildContext() {
	vars := map[string]cty.Value{}
	for name, d := range im.vars {
		vars[name] = cty.UnknownVal(d.typ)
	}
	im.ctx = &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":    cty.ObjectVal(vars),
			"path":   cty.ObjectVal(map[string]cty.Value{"root": cty.StringVal(im.root()), "cwd": cty.StringVal(".")}),
			"data":   cty.DynamicVal,
			"packer": cty.ObjectVal(map[string]cty.Value{"version": cty.UnknownVal(cty.String)}),
		},
		Functions: im.fns,
	}
	// Locals: evaluate in passes until nothing changes; what stays unknown
	// is translated at each use.
	vals := map[string]cty.Value{}
	for n := range im.locals {
		vals[n] = cty.DynamicVal
	}
	// callErr holds, per local, a function call that failed on known
	// arguments (a bad regexp, a missing file): Packer rejects it.
	callErr := map[string]*hcl.Diagnostic{}
	for pass := 0; pass <= len(im.locals); pass++ {
		im.ctx.Variables["local"] = cty.ObjectVal(vals)
		changed := false
		for n, l := range im.locals {
			if vals[n].IsWhollyKnown() {
				continue
			}
			v, diags := l.expr.Value(im.ctx)
			delete(callErr, n)
			for _, d := range diags {
				if d.Severity == hcl.DiagError && (d.Summary == "Error in function call" || d.Summary == "Invalid function argument") {
					callErr[n] = d
					break
				}
			}
			if !diags.HasErrors() && v.IsWhollyKnown() {
				vals[n] = v
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	im.ctx.Variables["local"] = cty.ObjectVal(vals)
	// Account for locals: folded, translatable, or kept as text.
	for _, body := range im.bodies {
		for _, blk := range body.Blocks {
			var attrs []*hclsyntax.Attribute
			switch blk.Type {
			case "locals":
				attrs = sortedAttrs(blk.Body)
			case "local":
				if a := blk.Body.Attributes["expression"]; a != nil {
					attrs = []*hclsyntax.Attribute{a}
				}
			}
			for _, a := range attrs {
				name := a.Name
				if blk.Type == "local" {
					name = blk.Labels[0]
				}
				var probs []problem
				if d := callErr[name]; d != nil && !vals[name].IsWhollyKnown() {
					probs = append(probs, problem{KindExpression, fmt.Sprintf("local %q = %s: %s; its uses are kept as text", name, srcOf(a.Expr), strings.TrimSuffix(d.Detail, "."))})
				} else if !vals[name].IsWhollyKnown() {
					sc := im.scope("", "", "")
					if _, err := sc.expr(a.Expr); err != nil {
						probs = append(probs, problem{KindExpression, fmt.Sprintf("local %q = %s: %v; its uses are kept as text", name, srcOf(a.Expr), err)})
					}
				}
				im.r.Header = append(im.r.Header, im.account(posOf(a.NameRange), probs)...)
			}
		}
	}
}

// scope returns the evaluation scope of a build and source.
func (im *importer) scope(buildName, srcType, srcName string) *scope {
	ctx := im.ctx.NewChild()
	b := map[string]cty.Value{"name": cty.StringVal(buildName), "type": cty.StringVal(srcType)}
	for _, n := range runtimeBuild {
		b[n] = cty.UnknownVal(cty.String)
	}
	ctx.Variables = map[string]cty.Value{
		"build":  cty.ObjectVal(b),
		"source": cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal(srcName), "type": cty.StringVal(srcType)}),
	}
	return &scope{im: im, ctx: ctx, buildName: buildName, srcType: srcType, srcName: srcName}
}
