package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pipebuild/pipe/builders"
	"github.com/pipebuild/pipe/pipeline/cache"
	"github.com/pipebuild/pipe/schema"
)

// Status is what a run does, or did, with a node.
type Status string

// Node statuses. Plan uses the first four; a run reports the rest.
const (
	StatusCached  Status = "cached"
	StatusBuild   Status = "build"
	StatusSkip    Status = "skip"
	StatusBlocked Status = "blocked"
	StatusBuilt   Status = "built"
	StatusFailed  Status = "failed"
	StatusNotRun  Status = "not-run"
)

// Decision is the plan for one node, with its reason.
type Decision struct {
	Node     string         `json:"node"`
	Stage    string         `json:"stage"`
	Builder  string         `json:"builder"`
	Status   Status         `json:"status"`
	Reason   string         `json:"reason,omitempty"`
	ActionID cache.ActionID `json:"action_id,omitempty"`
	Upstream string         `json:"upstream,omitempty"`

	record *cache.Record
}

// PlanOptions say what to rebuild regardless of the cache.
type PlanOptions struct {
	// Force rebuilds these stages and their descendants.
	Force []string
	// NoCache rebuilds everything.
	NoCache bool
	// Now is the time max_age is measured against; zero means time.Now().
	Now time.Time
	// Debug, when set, receives every node's key lines (PIPE_DEBUG=cachehash=1).
	Debug func(node string, lines []cache.Line)
}

// forced returns the set of node names forced by opts.
func (p *Pipeline) forced(opts PlanOptions) (map[string]bool, error) {
	out := map[string]bool{}
	for _, s := range opts.Force {
		if _, ok := p.File.Stages.Get(s); !ok {
			return nil, fmt.Errorf("--force: unknown stage %q%s", s, suggest(s, p.File.Stages.Keys))
		}
		for _, n := range p.graph.nodes {
			if n.Stage == s {
				out[n.Name] = true
				for _, d := range p.graph.descendants(n.Name) {
					out[d] = true
				}
			}
		}
	}
	return out, nil
}

// Plan decides, for every node, whether a run would reuse it, build it,
// skip it or be blocked, and why. Resolution problems (a missing file, a
// bad value) are returned as errors: nothing would run.
func (p *Pipeline) Plan(ctx context.Context, st *cache.Store, opts PlanOptions) ([]*Decision, error) {
	forced, err := p.forced(opts)
	if err != nil {
		return nil, err
	}
	pl := &planner{p: p, st: st, opts: opts, forced: forced, decisions: map[*Node]*Decision{}}
	// Each root's subtree is planned in order, and independent subtrees
	// in parallel: a node needs only its upstream's decision.
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.NumCPU())
	for _, n := range p.graph.nodes {
		if n.Up == nil {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				pl.walk(ctx, n, nil, nil)
			})
		}
	}
	wg.Wait()
	out := make([]*Decision, len(p.graph.nodes))
	for i, n := range p.graph.nodes {
		out[i] = pl.decisions[n]
	}
	if len(pl.errs) > 0 {
		// Subtrees finish in any order: sort the problems by position.
		var all schema.Errors
		for _, err := range pl.errs {
			all.Append(schema.Pos{}, err)
		}
		return out, maskError(all.Err(), p.keySecrets)
	}
	return out, nil
}

// planner holds one plan's state, shared by the subtrees planned at once.
type planner struct {
	p      *Pipeline
	st     *cache.Store
	opts   PlanOptions
	forced map[string]bool

	mu        sync.Mutex
	decisions map[*Node]*Decision
	errs      []error
}

// walk decides n, whose upstream decided ud with artifact upArt, then its
// dependents.
func (pl *planner) walk(ctx context.Context, n *Node, ud *Decision, upArt *builders.Artifact) {
	d, art, err := pl.decideNode(ctx, n, ud, upArt)
	pl.mu.Lock()
	pl.decisions[n] = d
	if err != nil {
		pl.errs = append(pl.errs, err)
	}
	pl.mu.Unlock()
	for _, c := range n.Down {
		pl.walk(ctx, c, d, art)
	}
}

// decideNode plans one node; art is its artifact when it is cached.
func (pl *planner) decideNode(ctx context.Context, n *Node, ud *Decision, upArt *builders.Artifact) (*Decision, *builders.Artifact, error) {
	d := &Decision{Node: n.Name, Stage: n.Stage, Builder: n.BuilderName}
	if n.Up != nil {
		d.Upstream = n.Up.Name
	}
	r, err := pl.p.resolve(n, upArt, pl.st)
	if err != nil {
		d.Status, d.Reason = StatusBlocked, "configuration error"
		return d, nil, err
	}
	if pl.opts.Debug != nil && (n.Up == nil || upArt != nil) {
		pl.mu.Lock()
		pl.opts.Debug(n.Name, r.lines)
		pl.mu.Unlock()
	}
	switch {
	case ud != nil && ud.Status == StatusSkip:
		d.Status, d.Reason = StatusSkip, "upstream "+n.Up.Name+" is skipped"
	case ud != nil && ud.Status == StatusBlocked:
		d.Status, d.Reason = StatusBlocked, "upstream "+n.Up.Name+" cannot run"
	case !r.when:
		d.Status, d.Reason = StatusSkip, "when: is false"
	case ud != nil && ud.Status == StatusBuild:
		d.Status, d.Reason = StatusBuild, "upstream "+n.Up.Name+" will rebuild"
		if pl.forced[n.Name] {
			d.Reason = "forced"
		}
	default:
		d.ActionID = r.id
		d = pl.p.decide(ctx, r, pl.st, pl.forced[n.Name] || pl.opts.NoCache, pl.opts.Now, d)
		if d.Status == StatusCached {
			return d, recordArtifact(d.record), nil
		}
	}
	return d, nil, nil
}

// decide looks a resolved node up in the store: cached if a fresh record
// exists and its artifact is still there, build otherwise, with the reason.
func (p *Pipeline) decide(ctx context.Context, r *resolved, st *cache.Store, force bool, now time.Time, d *Decision) *Decision {
	if now.IsZero() {
		now = time.Now()
	}
	out := *d
	out.ActionID = r.id
	out.Status = StatusBuild
	if force {
		out.Reason = "forced"
		return &out
	}
	// The plan before a run already checked this key: a record only
	// appears under a key, never changes, so the run reuses the answer.
	if rec, ok := p.hits.Load(r.id); ok {
		out.Status, out.Reason, out.record = StatusCached, "", rec.(*cache.Record)
		return &out
	}
	rec, err := st.Get(p.Name, r.node.Name, r.id)
	if err != nil {
		out.Reason = p.explain(r, st)
		return &out
	}
	if maxAge := time.Duration(r.node.Def.Cache.MaxAge); maxAge > 0 && now.Sub(rec.Created) > maxAge {
		out.Reason = fmt.Sprintf("expired (max_age %s, built %s ago)", shortDuration(maxAge), shortDuration(now.Sub(rec.Created).Round(time.Minute)))
		return &out
	}
	art := recordArtifact(rec)
	if ex, ok := r.node.Builder.(builders.Exister); ok && art != nil {
		if ok, err := ex.Exists(ctx, r.spec, art); err != nil || !ok {
			out.Reason = "artifact gone"
			if err != nil {
				out.Reason += ": " + err.Error()
			}
			return &out
		}
	}
	if art == nil {
		out.Reason = "cache record has no artifact"
		return &out
	}
	out.Status, out.Reason, out.record = StatusCached, "", rec
	p.hits.Store(r.id, rec)
	return &out
}

// shortDuration prints 168h0m0s as 168h.
func shortDuration(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	return strings.TrimSuffix(s, "0m")
}

func recordArtifact(rec *cache.Record) *builders.Artifact {
	if rec == nil || len(rec.Artifact) == 0 {
		return nil
	}
	var a builders.Artifact
	if json.Unmarshal(rec.Artifact, &a) != nil || a.OutputID == "" {
		return nil
	}
	return &a
}

// explain says why a node has no record for its key, against the node's
// latest record.
func (p *Pipeline) explain(r *resolved, st *cache.Store) string {
	last, err := st.Latest(p.Name, r.node.Name)
	if err != nil {
		return "no previous build"
	}
	return Explain(last.Lines, r.lines, last.Vars, r.vars)
}

// Explain compares a node's previous key lines and variable hashes with the
// current ones and says what changed, most telling first.
func Explain(old, cur []cache.Line, oldVars, curVars map[string]string) string {
	var reasons []string
	var names []string
	for name, h := range curVars {
		if oh, ok := oldVars[name]; ok && oh != h {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		reasons = append(reasons, "variable "+name+" changed")
	}
	prev := map[string]string{}
	for _, l := range old {
		prev[l.Name] = l.Value
	}
	// A changed variable explains the lines it feeds; only files and the
	// upstream are then worth naming besides it.
	varChanged := len(reasons) > 0
	seen := map[string]bool{}
	for _, l := range cur {
		seen[l.Name] = true
		v, ok := prev[l.Name]
		if varChanged && !isFileLine(l.Name) && l.Name != "upstream" {
			continue
		}
		switch {
		case !ok:
			reasons = append(reasons, describeLine(l.Name)+" added")
		case v != l.Value:
			reasons = append(reasons, describeLine(l.Name)+" changed")
		}
	}
	for _, l := range old {
		if !seen[l.Name] {
			reasons = append(reasons, describeLine(l.Name)+" removed")
		}
	}
	reasons = dedupe(reasons)
	switch {
	case len(reasons) == 0:
		return "no record for this key"
	case len(reasons) > 3:
		return strings.Join(reasons[:3], ", ") + fmt.Sprintf(" (+%d more)", len(reasons)-3)
	}
	return strings.Join(reasons, ", ")
}

func isFileLine(name string) bool { return describeLine(name) != name }

// describeLine turns a key line name into words: file lines name the file.
func describeLine(name string) string {
	if i := strings.Index(name, "file "); i >= 0 && (i == 0 || name[i-1] == '.') {
		return name[i+len("file "):]
	}
	if name == "upstream" {
		return "upstream image"
	}
	return name
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
