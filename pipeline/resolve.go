package pipeline

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/pipebuild/pipe/builders"
	"github.com/pipebuild/pipe/pipeline/cache"
	"github.com/pipebuild/pipe/schema"
	"github.com/pipebuild/pipe/stages"
)

// resolved is a node with every expression evaluated: what its builder and
// provisioners are given, and its cache key.
type resolved struct {
	node  *Node
	when  bool
	spec  *builders.Spec
	provs []resolvedProv
	lines []cache.Line
	id    cache.ActionID
	// usesStages is set when an expression of the node read an upstream
	// artifact.
	usesStages bool
	// vars maps each variable the node references to an HMAC of its value.
	vars map[string]string
}

type resolvedProv struct {
	impl stages.Provisioner
	def  *schema.Provisioner
	cfg  any
}

// resolve evaluates a node's parts with its upstream's artifact (nil for a
// root, or when the upstream is not built yet) and computes its key.
func (p *Pipeline) resolve(n *Node, up *builders.Artifact, st *cache.Store) (*resolved, error) {
	// A plan and the run after it resolve a node against the same upstream
	// output: do it once (a no-op run is mostly this).
	key := n.Name + "\x00"
	if up != nil {
		key += up.OutputID
	}
	if r, ok := p.memo.Load(key); ok {
		return r.(*resolved), nil
	}
	r, err := p.resolveNode(n, up, st)
	if err == nil {
		p.memo.Store(key, r)
	}
	return r, err
}

func (p *Pipeline) resolveNode(n *Node, up *builders.Artifact, st *cache.Store) (*resolved, error) {
	r, in, err := p.evaluate(n, up, st.Dir())
	if err != nil || !r.when {
		return r, err
	}
	r.vars = p.varHashes(in.refs, st.Secret())
	if err := p.key(r, st); err != nil {
		return nil, err
	}
	return r, nil
}

// evaluate decodes a node's parts with their expressions evaluated. A node
// whose `when:` is false is returned as soon as that is known: nothing else
// of a skipped stage is evaluated.
func (p *Pipeline) evaluate(n *Node, up *builders.Artifact, storeDir string) (*resolved, *interp, error) {
	arts := map[string]map[string]string{}
	if up != nil {
		arts[n.Up.Stage] = artifactValue(up)
	}
	in := newInterp(n.scope, n.scope.value(p.Vars, p.env, arts))
	r := &resolved{node: n, spec: &builders.Spec{
		Node: n.Name, Pipeline: p.Name, Dir: p.Dir, Root: n.Up == nil, Upstream: up, StoreDir: storeDir,
	}}
	r.when = true
	if errs := n.Def.When.Decode(&r.when, in); len(errs) > 0 {
		return nil, nil, errs.Err()
	}
	if !r.when {
		return r, in, nil
	}
	var errs schema.Errors
	r.spec.Config = n.Builder.NewConfig()
	errs = append(errs, n.BuilderDef.Config.Decode(r.spec.Config, in, "type", "source")...)
	if n.Up == nil {
		src := n.Def.Source
		if src.IsZero() {
			src = n.BuilderDef.Source
		}
		if s := n.Builder.NewSource(); s != nil {
			errs = append(errs, src.Decode(s, in)...)
			r.spec.Source = s
		}
	}
	img := &schema.Image{}
	errs = append(errs, n.Def.Image.Decode(img, in)...)
	r.spec.Image = img
	if ob, ok := n.Builder.(builders.OutputBuilder); ok {
		for _, o := range n.Def.Outputs {
			out := ob.NewOutput()
			errs = append(errs, o.Decode(out, in)...)
			r.spec.Outputs = append(r.spec.Outputs, out)
		}
	}
	for i, def := range n.Def.Provision {
		rp := resolvedProv{impl: n.Provisioners[i], def: def, cfg: n.Provisioners[i].NewConfig()}
		errs = append(errs, def.Config.Decode(rp.cfg, in)...)
		r.provs = append(r.provs, rp)
	}
	if err := errs.Err(); err != nil {
		return nil, nil, err
	}
	r.usesStages = in.usesStages
	return r, in, nil
}

// prepare validates a node's evaluated parts without side effects: the
// builder's config and source, each provisioner's config (its files exist)
// and each output.
func (p *Pipeline) prepare(r *resolved) schema.Errors {
	n := r.node
	var errs schema.Errors
	if err := n.Builder.Prepare(r.spec); err != nil {
		errs.Add(n.BuilderDef.Pos, "builder %q: %v", n.BuilderName, err)
	}
	for i, o := range r.spec.Outputs {
		if v, ok := o.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				errs.Add(n.Def.Outputs[i].Pos, "output: %v", err)
			}
		}
	}
	for _, rp := range r.provs {
		if err := rp.impl.Prepare(rp.cfg, p.Dir); err != nil {
			errs.Add(rp.def.Pos, "%s: %v", rp.def.Type, err)
		}
	}
	return errs
}

// artifactValue is what `stages.NAME.artifact` shows expressions.
func artifactValue(a *builders.Artifact) map[string]string {
	m := map[string]string{"id": a.ID, "output_id": a.OutputID, "builder": a.Builder}
	for k, v := range a.Data {
		m[k] = v
	}
	return m
}

// key validates the node's parts and writes its key lines: the builder's,
// each provisioner's and the upstream's OutputID. A line holding a sensitive
// value is replaced by its HMAC.
func (p *Pipeline) key(r *resolved, st *cache.Store) error {
	n := r.node
	if _, done := p.prepared.Load(n.Name); !done || r.usesStages {
		if errs := p.prepare(r); len(errs) > 0 {
			return errs.Err()
		}
	}
	k := cache.NewKey(st.Secret(), st.Files())
	k.Add("builder.type", n.Builder.Type())
	var errs schema.Errors
	if err := n.Builder.Key(r.spec, k.WithPrefix("builder")); err != nil {
		errs.Add(n.Def.Pos, "stage %q on %q: %v", n.Stage, n.BuilderName, err)
	}
	for i, rp := range r.provs {
		pk := k.WithPrefix(fmt.Sprintf("provision[%d].%s", i, rp.def.Type))
		if err := rp.impl.Key(rp.cfg, p.Dir, pk); err != nil {
			errs.Add(rp.def.Pos, "%s: %v", rp.def.Type, err)
		}
	}
	if r.spec.Upstream != nil {
		k.Add("upstream", r.spec.Upstream.OutputID)
	}
	if err := errs.Err(); err != nil {
		return err
	}
	r.lines = p.maskLines(k.Lines(), st.Secret())
	r.id = cache.Sum(r.lines)
	return nil
}

// maskLines replaces every line whose value contains a sensitive value by
// an HMAC of that value.
func (p *Pipeline) maskLines(lines []cache.Line, secret []byte) []cache.Line {
	if len(p.keySecrets) == 0 {
		return lines
	}
	out := make([]cache.Line, len(lines))
	for i, l := range lines {
		out[i] = l
		for _, s := range p.keySecrets {
			if strings.Contains(l.Value, s) || strings.Contains(l.Name, s) {
				out[i] = cache.Line{Name: maskString(l.Name, p.keySecrets), Value: "hmac:" + hmacHex(secret, l.Value)}
				break
			}
		}
	}
	return out
}

// varHashes returns an HMAC of each referenced variable's value, so that a
// plan can say "variable X changed" without storing the value.
func (p *Pipeline) varHashes(refs map[string]bool, secret []byte) map[string]string {
	out := map[string]string{}
	names := make([]string, 0, len(refs))
	for name := range refs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if v, ok := p.Vars[name]; ok {
			out[name] = hmacHex(secret, fmt.Sprintf("%T:%s", v, render(v)))
		}
	}
	return out
}

func hmacHex(secret []byte, s string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

// Mask replaces every sensitive value in s with "***".
func (p *Pipeline) Mask(s string) string { return maskString(s, p.Secrets) }

// maskError returns err with every secret in its messages replaced, keeping
// positioned errors positioned.
func maskError(err error, secrets []string) error {
	if err == nil || len(secrets) == 0 {
		return err
	}
	var list schema.Errors
	if errors.As(err, &list) && list.Error() == err.Error() {
		out := make(schema.Errors, len(list))
		for i, e := range list {
			out[i] = &schema.Error{Pos: e.Pos, Msg: maskString(e.Msg, secrets)}
		}
		return out
	}
	return errors.New(maskString(err.Error(), secrets))
}

// maskString replaces every secret in s with "***".
func maskString(s string, secrets []string) string {
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, "***")
	}
	return s
}

// BuilderConfig returns the config of a node's builder entry, with its
// expressions evaluated (upstream artifacts empty), for commands such as
// `pipe cleanup` that act on a builder outside a build.
func (p *Pipeline) BuilderConfig(n *Node) (any, error) {
	in := newInterp(n.scope, n.scope.value(p.Vars, p.env, nil))
	cfg := n.Builder.NewConfig()
	if errs := n.BuilderDef.Config.Decode(cfg, in, "type", "source"); len(errs) > 0 {
		return nil, maskError(errs.Err(), p.keySecrets)
	}
	return cfg, nil
}
