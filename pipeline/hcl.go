package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/pipebuild/pipe/schema"
	"github.com/pipebuild/pipe/schema/packer"
)

// expandHCL replaces every `hcl:` stage of f by the builders and stages
// `pipe import` makes of its template, so that they are loaded, checked and
// keyed exactly as the imported YAML would be. fileDir is the pipeline
// file's directory as given (template paths are relative to it); environ
// gives PKR_VAR_<name> values. It returns the importer's warnings.
func expandHCL(f *schema.File, fileDir string, environ []string) ([]string, schema.Errors) {
	x := &expander{f: f, dir: fileDir, environ: environ, vars: map[string]string{}, builders: map[string]string{}}
	done := map[string]bool{}
	for {
		name := x.next(done)
		if name == "" {
			break
		}
		done[name] = true
		x.expand(name)
	}
	for _, name := range f.Stages.Keys {
		st := f.Stages.Values[name]
		if st.HCL != "" && !done[name] {
			if _, ok := f.Stages.Get(st.From); ok {
				x.errs.Add(st.KeyPos["from"], "stage %q: hcl: stages form a cycle through from: %q", name, st.From)
			}
			// An unknown from: is reported by checkFrom.
		}
	}
	// Two stages of one template repeat its warnings: print each once.
	seen := map[string]bool{}
	var warnings []string
	for _, w := range x.warnings {
		if !seen[w] {
			seen[w] = true
			warnings = append(warnings, w)
		}
	}
	return warnings, x.errs
}

type expander struct {
	f        *schema.File
	dir      string
	environ  []string
	warnings []string
	errs     schema.Errors
	// vars and builders remember what an expansion added (a rendering),
	// so that two expansions of one template may share them.
	vars     map[string]string
	builders map[string]string
}

// next returns an `hcl:` stage not expanded yet whose upstream, if any, is
// an ordinary stage (perhaps from an earlier expansion).
func (x *expander) next(done map[string]bool) string {
	for _, name := range x.f.Stages.Keys {
		st := x.f.Stages.Values[name]
		if st.HCL == "" || done[name] {
			continue
		}
		if st.From == "" {
			return name
		}
		if up, ok := x.f.Stages.Get(st.From); ok && up.HCL == "" {
			return name
		}
	}
	return ""
}

func (x *expander) expand(name string) {
	st := x.f.Stages.Values[name]
	hclPos := st.KeyPos["hcl"]
	bad := false
	for _, k := range []string{"builders", "source", "provision", "image", "outputs"} {
		if _, ok := st.KeyPos[k]; ok {
			x.errs.Add(st.KeyPos[k], "stage %q: %s: cannot be used with hcl: (the template gives it)", name, k)
			bad = true
		}
	}
	if bad {
		x.remove(name)
		return
	}
	path := st.HCL
	if !filepath.IsAbs(path) {
		path = filepath.Join(x.dir, path)
	}
	opts := packer.Options{Vars: st.Vars, Environ: x.environ, Root: "."}
	if rel, err := filepath.Rel(x.dir, templateDir(path)); err == nil {
		opts.Root = filepath.ToSlash(rel)
	}
	r, err := packer.Expand(path, opts, packer.Selection{Build: st.Build, Sources: st.Sources})
	if err != nil {
		x.importError(st, name, err)
		x.remove(name)
		return
	}
	for _, w := range r.Warnings {
		x.warnings = append(x.warnings, fmt.Sprintf("%s: %s", w.Pos, w.Msg))
	}
	g, err := schema.Parse(path, r.YAML())
	if err != nil {
		x.errs.Add(hclPos, "stage %q: hcl: %s translates to an invalid pipeline: %v", name, st.HCL, err)
		x.remove(name)
		return
	}
	pb := map[string]*packer.Builder{}
	for _, b := range r.Builders {
		pb[b.Name] = b
	}

	// Name the stages and, with from:, find the upstream builders each
	// runs on.
	var names []string
	var runOn [][]string
	upBuilders := x.builderSet(st.From, 0)
	for i, gname := range g.Stages.Keys {
		sname := name
		if g.Stages.Len() > 1 {
			sname = name + "." + gname
		}
		if _, clash := x.f.Stages.Get(sname); clash && sname != name {
			x.errs.Add(hclPos, "stage %q: hcl: the template's build %q becomes stage %q, which the file already has (%s)", name, r.Stages[i].Build, sname, x.f.Stages.Pos[sname])
		}
		names = append(names, sname)
		if st.From == "" {
			runOn = append(runOn, nil)
			continue
		}
		var on []string
		for _, tb := range g.Stages.Values[gname].Builders {
			typ := pb[tb].Type
			var match []string
			for _, ub := range upBuilders {
				if x.builderType(ub) == typ {
					match = append(match, ub)
				}
			}
			if len(match) == 0 {
				x.errs.Add(st.KeyPos["from"], "stage %q: the template's source %s (%s, %s) has no %s builder of upstream %q to start from (it runs on %s)",
					name, sourceName(pb[tb]), typ, pb[tb].Pos, typ, st.From, x.describeBuilders(upBuilders))
				continue
			}
			x.warnings = append(x.warnings, fmt.Sprintf("%s: source %s: the stage has from: %q, so it starts from that stage's image on its %s builder(s) %s; the source's own settings (and its source image) are not used",
				pb[tb].Pos, sourceName(pb[tb]), st.From, typ, strings.Join(match, ", ")))
			for _, m := range match {
				if !contains(on, m) {
					on = append(on, m)
				}
			}
		}
		runOn = append(runOn, on)
	}

	// Variables: the file's own declaration wins; with from:, only those
	// the stages use are declared.
	var stageText strings.Builder
	for _, gname := range g.Stages.Keys {
		for _, p := range g.Stages.Values[gname].Provision {
			stageText.WriteString(nodeText(p.Config.Node))
		}
		for _, o := range g.Stages.Values[gname].Outputs {
			stageText.WriteString(nodeText(o.Node))
		}
		stageText.WriteString(nodeText(g.Stages.Values[gname].Image.Node))
	}
	for _, vn := range g.Variables.Keys {
		v := g.Variables.Values[vn]
		if _, ok := x.f.Variables.Get(vn); ok {
			if _, ours := x.vars[vn]; !ours {
				continue
			}
		}
		if st.From != "" && !regexp.MustCompile(`\bvars\.`+regexp.QuoteMeta(vn)+`\b`).MatchString(stageText.String()) {
			continue
		}
		pos := v.Pos
		for _, pv := range r.Variables {
			if pv.Name == vn && pv.Pos.File != "" {
				pos = schema.Pos{File: pv.Pos.File, Line: pv.Pos.Line, Col: pv.Pos.Col}
			}
		}
		v.Pos = pos
		rendering := fmt.Sprintf("%s %v %v", v.Type, v.HasDefault, v.Default)
		if prev, ok := x.vars[vn]; ok {
			if prev != rendering {
				x.errs.Add(hclPos, "stage %q: hcl: variable %q differs from the one another hcl: stage declared (%s)", name, vn, x.f.Variables.Pos[vn])
			}
			continue
		}
		x.vars[vn] = rendering
		x.f.Variables.Set(vn, pos, v)
	}

	// Builders: only without from:. An identical builder from another
	// expansion is shared; any other clash is an error.
	if st.From == "" {
		for _, bn := range g.Builders.Keys {
			def := g.Builders.Values[bn]
			p := toSchemaPos(pb[bn].Pos)
			rendering := nodeText(def.Config.Node)
			reposition(def, p)
			if prev, ok := x.f.Builders.Get(bn); ok {
				if x.builders[bn] != rendering {
					x.errs.Add(hclPos, "stage %q: hcl: the template's source %s becomes builder %q, which the file already has (%s)", name, sourceName(pb[bn]), bn, prev.Pos)
				}
				continue
			}
			x.builders[bn] = rendering
			x.f.Builders.Set(bn, p, def)
		}
	}

	// Stages.
	var out []*schema.Stage
	for i, gname := range g.Stages.Keys {
		es := g.Stages.Values[gname]
		ps := r.Stages[i]
		p := toSchemaPos(ps.Pos)
		es.Pos = p
		for k := range es.KeyPos {
			es.KeyPos[k] = p
		}
		if es.KeyPos == nil {
			es.KeyPos = map[string]schema.Pos{}
		}
		for j, pr := range es.Provision {
			pp := p
			if j < len(ps.Provision) && ps.Provision[j].Pos.File != "" {
				pp = toSchemaPos(ps.Provision[j].Pos)
			}
			pr.Pos = pp
			pr.Config = retoken(pr.Config, pp)
		}
		es.Image = retoken(es.Image, p)
		for j := range es.Outputs {
			es.Outputs[j] = retoken(es.Outputs[j], p)
		}
		es.When, es.Cache = st.When, st.Cache
		for _, k := range []string{"when", "cache"} {
			if kp, ok := st.KeyPos[k]; ok {
				es.KeyPos[k] = kp
			}
		}
		if st.From != "" {
			es.From = st.From
			es.Builders = runOn[i]
			es.KeyPos["from"] = st.KeyPos["from"]
			es.KeyPos["builders"] = st.KeyPos["from"]
		}
		out = append(out, es)
	}
	x.replace(name, names, out)
}

// importError reports an import failure: positioned in the template when
// the importer knows where, else at the stage's key.
func (x *expander) importError(st *schema.Stage, name string, err error) {
	var pe *packer.Error
	var pes packer.Errors
	switch {
	case errors.As(err, &pes):
		for _, e := range pes {
			x.errs.Add(toSchemaPos(e.Pos), "%s (stage %q, hcl: %s)", e.Msg, name, st.HCL)
		}
	case errors.As(err, &pe) && pe.Pos.Line > 0:
		x.errs.Add(toSchemaPos(pe.Pos), "%s (stage %q, hcl: %s)", pe.Msg, name, st.HCL)
	default:
		pos := st.KeyPos["hcl"]
		msg := err.Error()
		if pe != nil {
			msg = pe.Msg
		}
		switch {
		case strings.HasPrefix(msg, "build "):
			pos = st.KeyPos["build"]
		case strings.HasPrefix(msg, "sources:"):
			pos = st.KeyPos["sources"]
		}
		x.errs.Add(pos, "stage %q: hcl: %s: %s", name, st.HCL, msg)
	}
}

// builderSet is the builders a stage runs on, as stageBuilders decides.
func (x *expander) builderSet(name string, depth int) []string {
	st, ok := x.f.Stages.Get(name)
	if !ok || depth > x.f.Stages.Len() {
		return nil
	}
	switch {
	case len(st.Builders) > 0:
		return st.Builders
	case st.From != "":
		return x.builderSet(st.From, depth+1)
	case x.f.Builders.Len() == 1:
		return x.f.Builders.Keys
	case x.f.Builders.Len() == 0:
		return []string{implicitBuilder}
	}
	return nil
}

func (x *expander) builderType(name string) string {
	if b, ok := x.f.Builders.Get(name); ok {
		return b.Type
	}
	if name == implicitBuilder {
		return implicitBuilder
	}
	return ""
}

func (x *expander) describeBuilders(bs []string) string {
	if len(bs) == 0 {
		return "no known builders"
	}
	var s []string
	for _, b := range bs {
		s = append(s, fmt.Sprintf("%s (%s)", b, x.builderType(b)))
	}
	return strings.Join(s, ", ")
}

// replace puts stages in place of the stage name, in its position.
func (x *expander) replace(name string, names []string, stages []*schema.Stage) {
	old := x.f.Stages
	var m schema.Map[*schema.Stage]
	for _, k := range old.Keys {
		if k != name {
			m.Set(k, old.Pos[k], old.Values[k])
			continue
		}
		for i, s := range stages {
			m.Set(names[i], s.Pos, s)
		}
	}
	x.f.Stages = m
}

func (x *expander) remove(name string) { x.replace(name, nil, nil) }

func sourceName(b *packer.Builder) string {
	if b.PackerSource != "" {
		return "source." + b.PackerSource
	}
	return b.Name
}

func toSchemaPos(p packer.Pos) schema.Pos {
	return schema.Pos{File: p.File, Line: p.Line, Col: p.Col}
}

// reposition points a translated builder's positions, and its parts', at
// its source block in the template.
func reposition(b *schema.Builder, p schema.Pos) {
	b.Pos, b.TypePos = p, p
	b.Config = retoken(b.Config, p)
	b.Source = retoken(b.Source, p)
}

// retoken points every node of a translated part at p, the template block
// it comes from: an error in it then names the template's file and line.
func retoken(r schema.Raw, p schema.Pos) schema.Raw {
	if r.Node == nil {
		return r
	}
	r.File, r.Pos = p.File, p
	ast.Walk(posVisitor{p}, r.Node)
	return r
}

type posVisitor struct{ p schema.Pos }

func (v posVisitor) Visit(n ast.Node) ast.Visitor {
	if n == nil {
		return nil
	}
	if tk := n.GetToken(); tk != nil {
		tk.Position = &token.Position{Line: v.p.Line, Column: v.p.Col}
	}
	return v
}

func nodeText(n ast.Node) string {
	if n == nil {
		return ""
	}
	return n.String()
}

func templateDir(p string) string {
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		return p
	}
	return filepath.Dir(p)
}
