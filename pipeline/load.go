package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"

	"github.com/pipebuild/pipe/builders"
	"github.com/pipebuild/pipe/schema"
	"github.com/pipebuild/pipe/stages"
)

// Options say how to load a pipeline.
type Options struct {
	// File is the pipeline file's path.
	File string
	// Inputs give variable values.
	Inputs VarInputs
	// Builders and Provisioners are the registries of known types.
	Builders     *builders.Registry
	Provisioners *stages.Registry
	// Only keeps these stages and their ancestors.
	Only []string
	// Now is the run's frozen time for timestamp(); zero means time.Now().
	Now time.Time
}

// Pipeline is a loaded, validated pipeline: its variables resolved, every
// expression type-checked, and its node graph built.
type Pipeline struct {
	File *schema.File
	// Name scopes the pipeline's cache records.
	Name string
	// Dir is the pipeline file's directory.
	Dir string
	// Vars holds every variable's value.
	Vars map[string]any
	// Secrets are the sensitive values to mask, longest first.
	Secrets []string
	// Warnings are problems that do not stop a run.
	Warnings []string
	// keySecrets are every sensitive value, however short: a key line
	// holding one is HMAC'd.
	keySecrets []string

	graph     *graph
	memo      sync.Map // node + upstream OutputID → *resolved
	hits      sync.Map // ActionID → *cache.Record the plan found usable
	prepared  sync.Map // node name → true: checked at load, independent of upstream
	env       map[string]string
	timestamp string
	funcs     []expr.Option
}

// implicitBuilder is used when a file declares no builders.
const implicitBuilder = "local"

// Nodes returns the nodes in topological order.
func (p *Pipeline) Nodes() []*Node { return p.graph.nodes }

// Node returns the node named name.
func (p *Pipeline) Node(name string) (*Node, bool) {
	n, ok := p.graph.byName[name]
	return n, ok
}

// Load reads, validates and resolves a pipeline. Every problem is reported
// at once as positioned errors.
func Load(opts Options) (*Pipeline, error) {
	var errs schema.Errors
	f, err := schema.Load(opts.File)
	if f == nil {
		return nil, err
	}
	errs.Append(schema.Pos{File: opts.File}, err)
	hclEnv := opts.Inputs.Environ
	if hclEnv == nil {
		hclEnv = os.Environ()
	}
	hclWarnings, herrs := expandHCL(f, filepath.Dir(opts.File), hclEnv)
	errs = append(errs, herrs...)
	dir, err := filepath.Abs(filepath.Dir(opts.File))
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	p := &Pipeline{File: f, Name: f.Name, Dir: dir, env: environ(opts.Inputs.Environ),
		timestamp: now.UTC().Format(time.RFC3339)}
	p.Name = DefaultName(f)
	p.funcs = functions(dir, p.timestamp)
	if !validName(p.Name) {
		errs.Add(f.Pos, "pipeline name %q may only hold letters, digits, '.', '_' and '-'", p.Name)
	}
	vals, err := resolveVars(f, opts.Inputs)
	errs.Append(f.Pos, err)
	p.Vars = vals
	if err == nil {
		errs.Append(f.Pos, p.validateVars())
	}
	p.Secrets, p.keySecrets, p.Warnings = sensitiveValues(f, vals)
	p.Warnings = append(p.Warnings, hclWarnings...)

	errs = append(errs, p.checkBuilders(opts.Builders)...)
	order, cerrs := stageOrder(f)
	errs = append(errs, cerrs...)
	errs = append(errs, checkFrom(f)...)
	if opts.Only != nil {
		keep, err := selectStages(f, opts.Only)
		if err != nil {
			return nil, err
		}
		order = filter(order, keep)
	}
	implicit := ""
	if _, ok := opts.Builders.Lookup(implicitBuilder); ok && f.Builders.Len() == 0 {
		implicit = implicitBuilder
		f.Builders.Set(implicitBuilder, f.Pos, &schema.Builder{Type: implicitBuilder, Pos: f.Pos})
	}
	sb, berrs := stageBuilders(f, order, implicit)
	errs = append(errs, berrs...)
	if len(cerrs) == 0 {
		p.graph = newGraph(order, sb, f)
		errs = append(errs, p.checkNodes(opts.Builders, opts.Provisioners)...)
	}
	if len(errs) == 0 {
		errs = append(errs, p.prepareNodes()...)
	}
	if err := errs.Err(); err != nil {
		// A value can reach a message (a path, a duration built from a
		// variable): no sensitive one may.
		return nil, maskError(err, p.keySecrets)
	}
	return p, nil
}

func validName(s string) bool {
	return s != "" && s != "." && s != ".." && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == ""
}

func filter(order []string, keep map[string]bool) []string {
	var out []string
	for _, s := range order {
		if keep[s] {
			out = append(out, s)
		}
	}
	return out
}

func environ(env []string) map[string]string {
	if env == nil {
		env = os.Environ()
	}
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// validateVars evaluates every variable's validation conditions.
func (p *Pipeline) validateVars() error {
	var errs schema.Errors
	sc := newScope(&p.File.Variables, nil, p.funcs)
	in := newInterp(sc, sc.value(p.Vars, p.env, nil))
	for _, name := range p.File.Variables.Keys {
		for _, v := range p.File.Variables.Values[name].Validation {
			src := v.Condition.Source()
			ok, err := in.eval(src, v.KeyPos["condition"])
			if err != nil {
				errs.Append(v.Pos, err)
				continue
			}
			if b, isBool := ok.(bool); !isBool {
				errs.Add(v.Pos, "variable %q: validation condition is not a boolean", name)
			} else if !b {
				msg := v.Message
				if msg == "" {
					msg = "validation failed: " + src
				}
				shown := render(p.Vars[name])
				if s, ok := p.Vars[name].(string); ok {
					shown = fmt.Sprintf("%q", s)
				}
				if p.File.Variables.Values[name].Sensitive {
					shown = "(sensitive)"
				}
				errs.Add(v.Pos, "variable %q = %s: %s", name, shown, msg)
			}
		}
	}
	return errs.Err()
}

// prepareNodes evaluates every node (with its upstream not built yet) and
// validates the result, so that a missing script or a bad enum is found by
// `validate` too, together with everything else.
func (p *Pipeline) prepareNodes() schema.Errors {
	var errs schema.Errors
	for _, n := range p.graph.nodes {
		r, _, err := p.evaluate(n, nil, "")
		if err != nil {
			errs.Append(n.Def.Pos, err)
			continue
		}
		if !r.when {
			continue
		}
		perrs := p.prepare(r)
		errs = append(errs, perrs...)
		if len(perrs) == 0 && !r.usesStages {
			// Nothing of this node depends on its upstream's artifact, so
			// what was checked here holds for the plan and the run too.
			p.prepared.Store(n.Name, true)
		}
	}
	return errs
}

// checkFrom reports `from:` values naming no stage.
func checkFrom(f *schema.File) schema.Errors {
	var errs schema.Errors
	for _, name := range f.Stages.Keys {
		st := f.Stages.Values[name]
		if st.From == "" {
			continue
		}
		if _, ok := f.Stages.Get(st.From); !ok {
			errs.Add(st.KeyPos["from"], "stage %q: from: unknown stage %q%s", name, st.From, suggest(st.From, f.Stages.Keys))
		}
	}
	return errs
}

// checkBuilders type-checks every builder entry against its type.
func (p *Pipeline) checkBuilders(reg *builders.Registry) schema.Errors {
	var errs schema.Errors
	in := newInterp(newScope(&p.File.Variables, nil, p.funcs), nil)
	for _, name := range p.File.Builders.Keys {
		def := p.File.Builders.Values[name]
		if !validName(name) {
			errs.Add(p.File.Builders.Pos[name], "builder name %q may only hold letters, digits, '.', '_' and '-'", name)
		}
		b, ok := reg.Lookup(def.Type)
		if !ok {
			if def.Type != "" {
				errs.Add(def.TypePos, "builder %q: unknown type %q (known: %s)%s", name, def.Type, strings.Join(reg.Types(), ", "), suggest(def.Type, reg.Types()))
			}
			continue
		}
		errs = append(errs, def.Config.Decode(b.NewConfig(), in, "type", "source")...)
		errs = append(errs, checkSource(b, def.Source, in)...)
	}
	return errs
}

func checkSource(b builders.Builder, src schema.Raw, in schema.Interp) schema.Errors {
	if src.IsZero() {
		return nil
	}
	s := b.NewSource()
	if s == nil {
		return schema.Errors{schema.Errorf(src.Pos, "builder type %q takes no source", b.Type())}
	}
	return src.Decode(s, in)
}

// checkNodes resolves each node's builder and provisioners and type-checks
// every stage-level part against them.
func (p *Pipeline) checkNodes(breg *builders.Registry, preg *stages.Registry) schema.Errors {
	var errs schema.Errors
	checked := map[string]bool{}
	for _, n := range p.graph.nodes {
		n.BuilderDef = p.File.Builders.Values[n.BuilderName]
		if n.BuilderDef == nil {
			continue // an unknown builder, reported by stageBuilders
		}
		n.Builder, _ = breg.Lookup(n.BuilderDef.Type)
		// Only the `from:` stage's artifact is visible: it is the one a
		// node is built on, and the one whose value is known when it runs.
		var ups []string
		if n.Def.From != "" {
			ups = []string{n.Def.From}
		}
		n.scope = newScope(&p.File.Variables, func() []string { return ups }, p.funcs)
		n.Provisioners = make([]stages.Provisioner, len(n.Def.Provision))
		for i, pr := range n.Def.Provision {
			if impl, ok := preg.Lookup(pr.Type); ok {
				n.Provisioners[i] = impl
			} else if !checked[n.Stage] {
				errs.Add(pr.Pos, "unknown provisioner %q (known: %s)%s", pr.Type, strings.Join(preg.Types(), ", "), suggest(pr.Type, preg.Types()))
			}
		}
		if n.Builder == nil || checked[n.Stage+"\x00"+n.BuilderDef.Type] {
			continue
		}
		checked[n.Stage] = true
		checked[n.Stage+"\x00"+n.BuilderDef.Type] = true
		errs = append(errs, p.checkStage(n)...)
	}
	return errs
}

// checkStage type-checks one stage's parts for one builder type.
func (p *Pipeline) checkStage(n *Node) schema.Errors {
	in := newInterp(n.scope, nil)
	def := n.Def
	var errs schema.Errors
	if n.Up == nil {
		errs = append(errs, checkSource(n.Builder, def.Source, in)...)
	} else if !def.Source.IsZero() {
		errs.Add(def.Source.Pos, "stage %q has from: %q, so it starts from that stage's image and cannot have a source", n.Stage, def.From)
	}
	for i, pr := range def.Provision {
		if impl := n.Provisioners[i]; impl != nil {
			errs = append(errs, pr.Config.Decode(impl.NewConfig(), in)...)
		}
	}
	var when bool
	errs = append(errs, def.When.Decode(&when, in)...)
	errs = append(errs, def.Image.Decode(&schema.Image{}, in)...)
	ob, ok := n.Builder.(builders.OutputBuilder)
	for _, o := range def.Outputs {
		if !ok {
			errs.Add(o.Pos, "stage %q: builder type %q has no outputs", n.Stage, n.Builder.Type())
			continue
		}
		errs = append(errs, o.Decode(ob.NewOutput(), in)...)
	}
	return errs
}

// String describes the node for messages: its name and YAML position.
func (n *Node) String() string {
	return fmt.Sprintf("%s (%s)", n.Name, n.Def.Pos)
}

// DefaultName is a pipeline's name: its `name:`, or else the name of the
// directory holding its file.
func DefaultName(f *schema.File) string {
	if f.Name != "" {
		return f.Name
	}
	dir, err := filepath.Abs(filepath.Dir(f.Path))
	if err != nil {
		return filepath.Base(filepath.Dir(f.Path))
	}
	return filepath.Base(dir)
}
