package packer

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// dockerTag is what Docker accepts as an image tag.
var dockerTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

var provKeys = map[string]map[string]bool{
	"shell": set("inline", "script", "scripts", "env", "environment_vars", "execute_command", "inline_shebang",
		"remote_folder", "valid_exit_codes", "timeout", "max_retries"),
	"shell-local": set("inline", "script", "scripts", "env", "environment_vars", "execute_command",
		"valid_exit_codes", "timeout", "max_retries"),
	"file": set("source", "sources", "content", "destination", "direction"),
}

// stagePart is what one builder instance of a build gets.
type stagePart struct {
	in   *inst
	prov []Provision
	outs []*OMap
}

func (im *importer) buildAll() {
	usedSrc := map[string]bool{}
	usedNames := map[string]bool{}
	for bi, blk := range im.builds {
		im.buildBlock(bi, blk, usedSrc, usedNames)
	}
	for _, k := range im.srcOrd {
		if !usedSrc[k] {
			sd := im.sources[k]
			im.r.Header = append(im.r.Header, im.dropBody(posOf(sd.block.DefRange()), sd.block.Body, KindIgnored, "source "+k+" is not used by any build; not imported")...)
		}
	}
	for _, k := range sortedKeys(im.data) {
		if !im.dataUsed[k] {
			blk := im.data[k]
			im.r.Header = append(im.r.Header, im.dropBody(posOf(blk.DefRange()), blk.Body, KindUnsupported, "data \""+strings.Replace(k, ".", "\" \"", 1)+"\" has no pipe equivalent (only amazon-ami used as source_ami becomes an ami_filter)")...)
		}
	}
}

func (im *importer) buildBlock(bi int, blk *hclsyntax.Block, usedSrc, usedNames map[string]bool) {
	name := fmt.Sprintf("build-%d", bi+1)
	if len(im.builds) == 1 {
		name = "build"
	}
	var stageComments []string
	base := im.scope("", "", "")
	if a := blk.Body.Attributes["name"]; a != nil {
		v, d := a.Expr.Value(base.ctx)
		var probs []problem
		if !d.HasErrors() && v.IsKnown() && v.Type() == cty.String {
			name = v.AsString()
		} else {
			probs = append(probs, problem{KindExpression, fmt.Sprintf("build name %s is not known at import time; stage named %q", srcOf(a.Expr), name)})
		}
		stageComments = append(stageComments, im.account(posOf(a.NameRange), probs)...)
	}
	if a := blk.Body.Attributes["description"]; a != nil {
		v, d := a.Expr.Value(base.ctx)
		if !d.HasErrors() && v.IsKnown() && v.Type() == cty.String {
			stageComments = append(stageComments, strings.TrimSpace(v.AsString()))
		}
		im.account(posOf(a.NameRange), nil)
	}
	for _, a := range sortedAttrs(blk.Body) {
		if a.Name != "name" && a.Name != "description" && a.Name != "sources" {
			stageComments = append(stageComments, im.account(posOf(a.NameRange), []problem{{KindUnsupported, "build attribute " + a.Name + " has no pipe equivalent"}})...)
		}
	}
	// Sources, then override blocks.
	type ref struct {
		sd       *sourceDecl
		override *hclsyntax.Block
		pos      Pos
	}
	var refs []ref
	resolve := func(s string, p Pos) *sourceDecl {
		parts := strings.Split(s, ".")
		if len(parts) == 3 {
			parts = parts[1:]
		}
		k := strings.Join(parts, ".")
		sd := im.sources[k]
		if sd == nil {
			im.errs = append(im.errs, &Error{Pos: p, Msg: fmt.Sprintf("build refers to source %q, which is not declared", s)})
		}
		return sd
	}
	if a := blk.Body.Attributes["sources"]; a != nil {
		var probs []problem
		if tup, ok := a.Expr.(*hclsyntax.TupleConsExpr); ok {
			for _, e := range tup.Exprs {
				s := ""
				if v, d := e.Value(nil); !d.HasErrors() && v.Type() == cty.String {
					s = v.AsString()
				} else if t, d := hcl.AbsTraversalForExpr(e); !d.HasErrors() {
					var ps []string
					for _, st := range t {
						switch st := st.(type) {
						case hcl.TraverseRoot:
							ps = append(ps, st.Name)
						case hcl.TraverseAttr:
							ps = append(ps, st.Name)
						}
					}
					s = strings.Join(ps, ".")
				}
				if sd := resolve(s, posOf(e.Range())); sd != nil {
					refs = append(refs, ref{sd: sd, pos: posOf(e.Range())})
				}
			}
		} else {
			probs = append(probs, problem{KindExpression, "build sources must be a list"})
		}
		stageComments = append(stageComments, im.account(posOf(a.NameRange), probs)...)
	}
	var provBlocks []*hclsyntax.Block
	for _, b := range blk.Body.Blocks {
		switch b.Type {
		case "source":
			if len(b.Labels) != 1 {
				im.errs = append(im.errs, &Error{Pos: posOf(b.DefRange()), Msg: "a build's source block takes one label, type.name"})
				continue
			}
			if sd := resolve(b.Labels[0], posOf(b.DefRange())); sd != nil {
				refs = append(refs, ref{sd: sd, override: b, pos: posOf(b.DefRange())})
			}
		case "provisioner", "post-processor", "post-processors", "dynamic":
			provBlocks = append(provBlocks, b)
		case "error-cleanup-provisioner", "hcp_packer_registry":
			stageComments = append(stageComments, im.dropBody(posOf(b.DefRange()), b.Body, KindUnsupported, b.Type+" has no pipe equivalent")...)
		default:
			im.errs = append(im.errs, &Error{Pos: posOf(b.DefRange()), Msg: fmt.Sprintf("unknown block type %q in build", b.Type)})
		}
	}
	if len(im.errs) > 0 {
		return
	}
	// Builders.
	var parts []*stagePart
	for _, rf := range refs {
		local := rf.sd.name
		if rf.override != nil {
			if a := rf.override.Body.Attributes["name"]; a != nil {
				if v, d := a.Expr.Value(nil); !d.HasErrors() && v.Type() == cty.String {
					local = v.AsString()
				}
			}
		}
		k := rf.sd.typ + "." + rf.sd.name
		first := !usedSrc[k]
		usedSrc[k] = true
		b, in := im.builder(rf.sd, rf.override, local, name, first)
		b.PackerSource = k
		in.builder = im.addBuilder(b, name)
		parts = append(parts, &stagePart{in: in, outs: in.outputs})
	}
	for _, pb := range provBlocks {
		im.buildChild(pb, parts, name)
	}
	im.assemble(name, posOf(blk.DefRange()), parts, stageComments, usedNames)
}

// addBuilder adds a builder, or reuses an identical one; a different one
// with the same name is renamed.
func (im *importer) addBuilder(b *Builder, buildName string) string {
	render := func(x *Builder) string {
		var sb strings.Builder
		writeValue(&sb, 0, x.Config)
		writeValue(&sb, 0, x.Source)
		return x.Type + sb.String()
	}
	if prev := im.r.builder(b.Name); prev != nil {
		if render(prev) == render(b) {
			return prev.Name
		}
		b.Name = sanitize(buildName + "-" + b.Name)
		for i := 2; im.r.builder(b.Name) != nil; i++ {
			b.Name = fmt.Sprintf("%s-%d", sanitize(buildName+"-"+b.Name), i)
		}
	}
	im.r.Builders = append(im.r.Builders, b)
	return b.Name
}

func (im *importer) buildChild(b *hclsyntax.Block, parts []*stagePart, buildName string) {
	switch b.Type {
	case "provisioner":
		im.provisioner(b, b.Labels[0], b.Body, parts, buildName, nil)
	case "dynamic":
		im.dynamic(b, parts, buildName)
	case "post-processor":
		im.postChain([]*hclsyntax.Block{b}, parts, buildName)
	case "post-processors":
		var chain []*hclsyntax.Block
		for _, c := range b.Body.Blocks {
			chain = append(chain, c)
		}
		im.postChain(chain, parts, buildName)
	}
}

// dynamic expands a dynamic "provisioner" block.
func (im *importer) dynamic(b *hclsyntax.Block, parts []*stagePart, buildName string) {
	p := posOf(b.DefRange())
	label := b.Labels[0]
	fe := b.Body.Attributes["for_each"]
	var content *hclsyntax.Block
	for _, c := range b.Body.Blocks {
		if c.Type == "content" {
			content = c
		}
	}
	if label != "provisioner" || fe == nil || content == nil {
		im.dropBody(p, b.Body, KindUnsupported, "dynamic \""+label+"\" block not expanded")
		return
	}
	sc := im.scope(buildName, "", "")
	coll, d := fe.Expr.Value(sc.ctx)
	if d.HasErrors() || !coll.IsWhollyKnown() || !coll.CanIterateElements() {
		im.dropBody(p, b.Body, KindExpression, fmt.Sprintf("dynamic provisioner: for_each %s is not known at import time; not expanded", srcOf(fe.Expr)))
		return
	}
	iter := label
	if a := b.Body.Attributes["iterator"]; a != nil {
		if t := hcl.ExprAsKeyword(a.Expr); t != "" {
			iter = t
		}
	}
	typ := ""
	if a := b.Body.Attributes["labels"]; a != nil {
		v, d := a.Expr.Value(sc.ctx)
		if !d.HasErrors() && v.LengthInt() == 1 {
			typ = v.Index(cty.NumberIntVal(0)).AsString()
		}
	}
	for _, n := range []string{"for_each", "labels", "iterator"} {
		if a := b.Body.Attributes[n]; a != nil {
			im.account(posOf(a.NameRange), nil)
		}
	}
	if typ == "" || provKeys[typ] == nil {
		im.dropBody(p, content.Body, KindProvisioner, fmt.Sprintf("dynamic provisioner %q: pipe has no such provisioner (%d instances)", typ, coll.LengthInt()))
		return
	}
	first := true
	for it := coll.ElementIterator(); it.Next(); {
		k, v := it.Element()
		extra := map[string]cty.Value{iter: cty.ObjectVal(map[string]cty.Value{"key": k, "value": v})}
		if !first {
			restore := im.quiet()
			im.provisioner(b, typ, content.Body, parts, buildName, extra)
			restore()
		} else {
			im.provisioner(b, typ, content.Body, parts, buildName, extra)
		}
		first = false
	}
}

func matchList(v cty.Value) []string {
	var out []string
	if v.IsKnown() && !v.IsNull() && v.CanIterateElements() {
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.Type() == cty.String && e.IsKnown() {
				out = append(out, e.AsString())
			}
		}
	}
	return out
}

// applies reports whether only/except select an instance.
func applies(in *inst, only, except []string) bool {
	if len(only) > 0 {
		for _, o := range only {
			if o == in.key {
				return true
			}
		}
		return false
	}
	for _, e := range except {
		if e == in.key {
			return false
		}
	}
	return true
}

func (im *importer) provisioner(b *hclsyntax.Block, typ string, body *hclsyntax.Body, parts []*stagePart, buildName string, extra map[string]cty.Value) {
	p := posOf(b.DefRange())
	keys := provKeys[typ]
	if keys == nil {
		im.dropBody(p, body, KindProvisioner, fmt.Sprintf("provisioner %q: pipe has no such provisioner; not imported", typ))
		return
	}
	attrProbs := map[string][]problem{}
	var only, except []string
	var over *hclsyntax.Attribute
	for _, part := range parts {
		sc := im.scope(buildName, part.in.typ, part.in.local)
		sc.provType = typ
		for k, v := range extra {
			sc.ctx.Variables[k] = v
		}
		cfg := &OMap{}
		var comments []string
		for _, a := range sortedAttrs(body) {
			sc.problems = nil
			sc.attr = a.Name
			switch a.Name {
			case "only", "except":
				v, d := a.Expr.Value(sc.ctx)
				if d.HasErrors() {
					sc.fail(KindExpression, "%s %s not understood", a.Name, srcOf(a.Expr))
				}
				if a.Name == "only" {
					only = matchList(v)
				} else {
					except = matchList(v)
				}
			case "override":
				over = a
			case "name":
			case "pause_before":
				sc.fail(KindUnsupported, "pause_before has no pipe equivalent; dropped (add `sleep` to a shell step if it matters)")
			case "command":
				if typ != "shell-local" {
					sc.fail(KindUnsupported, "%s provisioner option %s has no pipe equivalent; dropped", typ, a.Name)
					break
				}
				// shell-local's single command runs as a one-line script.
				cfg.Set("inline", []any{sc.translate(a.Expr)})
			default:
				if !keys[a.Name] {
					sc.fail(KindUnsupported, "%s provisioner option %s has no pipe equivalent; dropped", typ, a.Name)
				} else {
					cfg.Set(a.Name, sc.translate(a.Expr))
				}
			}
			attrProbs[a.Name] = mergeProbs(attrProbs[a.Name], sc.problems)
		}
		for _, nb := range body.Blocks {
			_ = nb
		}
		if !applies(part.in, only, except) {
			continue
		}
		if over != nil {
			sc.problems = nil
			if obj, ok := over.Expr.(*hclsyntax.ObjectConsExpr); ok {
				for _, it := range obj.Items {
					kv, d := it.KeyExpr.Value(nil)
					key := hcl.ExprAsKeyword(it.KeyExpr)
					if !d.HasErrors() && kv.Type() == cty.String {
						key = kv.AsString()
					}
					if key != part.in.local {
						continue
					}
					if inner, ok := it.ValueExpr.(*hclsyntax.ObjectConsExpr); ok {
						for _, ii := range inner.Items {
							ik := hcl.ExprAsKeyword(ii.KeyExpr)
							if kv, d := ii.KeyExpr.Value(nil); !d.HasErrors() && kv.Type() == cty.String {
								ik = kv.AsString()
							}
							if keys[ik] {
								sc.attr = ik
								cfg.Set(ik, sc.translate(ii.ValueExpr))
							} else {
								sc.fail(KindUnsupported, "override for %s: %s has no pipe equivalent", key, ik)
							}
						}
					}
				}
			} else {
				sc.fail(KindExpression, "override must be an object")
			}
			attrProbs["override"] = mergeProbs(attrProbs["override"], sc.problems)
		}
		part.prov = append(part.prov, Provision{Type: typ, Pos: posOf(b.DefRange()), Config: cfg, Comments: comments})
	}
	var cs []string
	for _, a := range sortedAttrs(body) {
		cs = append(cs, im.account(posOf(a.NameRange), attrProbs[a.Name])...)
	}
	for _, nb := range body.Blocks {
		cs = append(cs, im.dropBody(posOf(nb.DefRange()), nb.Body, KindUnsupported, "block "+nb.Type+" in a provisioner has no pipe equivalent")...)
	}
	if len(only) > 0 || len(except) > 0 {
		matched := false
		for _, part := range parts {
			if applies(part.in, only, except) {
				matched = true
			}
		}
		if !matched {
			w := Warning{Pos: p, Kind: KindSemantics, Msg: fmt.Sprintf("%s provisioner selects no source of this build (only/except); dropped", typ)}
			im.r.Warnings = append(im.r.Warnings, w)
		}
	}
	for _, part := range parts {
		if n := len(part.prov); n > 0 && applies(part.in, only, except) {
			part.prov[n-1].Comments = append(part.prov[n-1].Comments, cs...)
		}
	}
}

func mergeProbs(a, b []problem) []problem {
	for _, x := range b {
		dup := false
		for _, y := range a {
			if x == y {
				dup = true
			}
		}
		if !dup {
			a = append(a, x)
		}
	}
	return a
}

// postChain translates a chain of post-processors.
func (im *importer) postChain(chain []*hclsyntax.Block, parts []*stagePart, buildName string) {
	for _, part := range parts {
		first := part == parts[0]
		var restore func()
		if !first {
			restore = im.quiet()
		}
		var tags []any
		for _, pp := range chain {
			typ := pp.Labels[0]
			sc := im.scope(buildName, part.in.typ, part.in.local)
			attrs := im.bodyAttrs(pp.Body, sc)
			p := posOf(pp.DefRange())
			var only, except []string
			for _, a := range attrs {
				if a.name == "only" || a.name == "except" {
					v, _ := a.expr.Value(sc.ctx)
					if a.name == "only" {
						only = matchList(v)
					} else {
						except = matchList(v)
					}
				}
			}
			on := applies(part.in, only, except)
			acc := func(a *attrVal, probs ...problem) {
				im.account(a.pos, append(a.probs, probs...))
			}
			switch typ {
			case "docker-tag", "docker-import":
				var repo any
				var tl []any
				noTag := false
				for _, a := range attrs {
					switch a.name {
					case "repository":
						repo = a.val
						acc(a)
					case "tag", "tags":
						var l []any
						switch v := a.val.(type) {
						case []any:
							l = v
						default:
							l = []any{v}
						}
						var probs []problem
						for _, t := range l {
							if ts, ok := t.(string); ok && !strings.Contains(ts, "${{") && !dockerTag.MatchString(ts) {
								probs = append(probs, problem{KindPostProc, fmt.Sprintf("%s: %q is not a valid image tag (Docker would refuse it); no registry output for it", typ, ts)})
								continue
							}
							tl = append(tl, t)
						}
						if len(tl) == 0 && len(probs) > 0 {
							noTag = true
						}
						acc(a, probs...)
					case "only", "except", "name", "keep_input_artifact":
						acc(a)
					default:
						acc(a, problem{KindPostProc, typ + ": " + a.name + " has no pipe equivalent"})
					}
				}
				if len(tl) == 0 && !noTag {
					tl = []any{"latest"}
				}
				tags = nil
				for _, t := range tl {
					tags = append(tags, fmt.Sprintf("%v:%v", repo, t))
				}
				if part.in.typ != "docker" {
					im.warn(p, KindPostProc, "%s on a %s source has no pipe equivalent", typ, part.in.typ)
				}
			case "docker-push":
				for _, a := range attrs {
					switch a.name {
					case "only", "except", "name", "keep_input_artifact":
						acc(a)
					default:
						acc(a, problem{KindPostProc, "docker-push " + a.name + ": pipe's registry output takes credentials from PIPE_REGISTRY_USERNAME/PIPE_REGISTRY_PASSWORD or ~/.docker/config.json"})
					}
				}
				if on && part.in.typ == "docker" {
					if len(tags) == 0 {
						im.warn(p, KindPostProc, "docker-push without a docker-tag before it: no registry output")
					}
					for _, t := range tags {
						o := &OMap{}
						o.Set("registry", t)
						part.outs = append(part.outs, o)
					}
				}
			case "manifest":
				for _, a := range attrs {
					acc(a, problem{KindPostProc, "manifest " + a.name + ": pipe writes pipe-manifest.json on every run (--manifest FILE); dropped"})
				}
				if len(attrs) == 0 {
					im.warn(p, KindPostProc, "manifest post-processor: pipe writes pipe-manifest.json on every run")
				}
			default:
				what := map[string]string{"shell-local": "pipe has no post-build hooks; run it after `pipe run`",
					"checksum": "pipe has no checksum output", "compress": "pipe has no compress output"}[typ]
				if what == "" {
					what = "pipe has no such post-processor"
				}
				im.dropBody(p, pp.Body, KindPostProc, fmt.Sprintf("post-processor %q: %s; not imported", typ, what))
			}
			for _, nb := range pp.Body.Blocks {
				im.dropBody(posOf(nb.DefRange()), nb.Body, KindPostProc, "block "+nb.Type+" in post-processor "+typ)
			}
		}
		if restore != nil {
			restore()
		}
	}
}

// assemble makes the build's stages: one with every builder when they all
// get the same steps, else one per builder.
func (im *importer) assemble(name string, p Pos, parts []*stagePart, comments []string, used map[string]bool) {
	render := func(sp *stagePart) string {
		var sb strings.Builder
		for _, pr := range sp.prov {
			sb.WriteString(pr.Type)
			writeValue(&sb, 0, pr.Config)
		}
		for _, o := range sp.outs {
			writeValue(&sb, 0, o)
		}
		if sp.in.image != nil {
			writeValue(&sb, 0, sp.in.image)
		}
		return sb.String()
	}
	same := true
	for _, sp := range parts[1:] {
		if render(sp) != render(parts[0]) {
			same = false
		}
	}
	unique := func(n string) string {
		n = sanitize(n)
		base := n
		for i := 2; used[n]; i++ {
			n = fmt.Sprintf("%s-%d", base, i)
		}
		used[n] = true
		return n
	}
	if len(parts) == 0 {
		im.warn(p, KindSemantics, "build %q has no sources; no stage", name)
		return
	}
	if same {
		st := &Stage{Name: unique(name), Build: name, Pos: p, Comments: comments, Provision: parts[0].prov, Outputs: parts[0].outs, Image: parts[0].in.image}
		for _, sp := range parts {
			st.Builders = append(st.Builders, sp.in.builder)
		}
		im.r.Stages = append(im.r.Stages, st)
		return
	}
	for i, sp := range parts {
		c := comments
		if i == 0 {
			c = append(append([]string(nil), comments...), "the build's sources get different steps (only/except/override): one stage per builder")
		}
		im.r.Stages = append(im.r.Stages, &Stage{Name: unique(name + "-" + sp.in.builder), Build: name, Pos: p, Comments: c,
			Builders: []string{sp.in.builder}, Provision: sp.prov, Outputs: sp.outs, Image: sp.in.image})
	}
}
