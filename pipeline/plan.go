package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pipebuild/pipe/builders"
	"github.com/pipebuild/pipe/pipeline/cache"
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
	var errs []error
	byNode := map[*Node]*Decision{}
	arts := map[*Node]*builders.Artifact{}
	var out []*Decision
	for _, n := range p.graph.nodes {
		d := &Decision{Node: n.Name, Stage: n.Stage, Builder: n.BuilderName}
		if n.Up != nil {
			d.Upstream = n.Up.Name
		}
		out = append(out, d)
		byNode[n] = d
		up := n.Up
		var upArt *builders.Artifact
		if up != nil {
			upArt = arts[up]
		}
		r, err := p.resolve(n, upArt, st)
		if err != nil {
			errs = append(errs, err)
			d.Status, d.Reason = StatusBlocked, "configuration error"
			continue
		}
		if opts.Debug != nil && (up == nil || upArt != nil) {
			opts.Debug(n.Name, r.lines)
		}
		if up != nil {
			switch ud := byNode[up]; ud.Status {
			case StatusSkip:
				d.Status, d.Reason = StatusSkip, "upstream "+up.Name+" is skipped"
				continue
			case StatusBlocked:
				d.Status, d.Reason = StatusBlocked, "upstream "+up.Name+" cannot run"
				continue
			}
		}
		if !r.when {
			d.Status, d.Reason = StatusSkip, "when: is false"
			continue
		}
		if up != nil && byNode[up].Status == StatusBuild {
			d.Status = StatusBuild
			d.Reason = "upstream " + up.Name + " will rebuild"
			if forced[n.Name] {
				d.Reason = "forced"
			}
			continue
		}
		d.ActionID = r.id
		*d = *p.decide(ctx, r, st, forced[n.Name] || opts.NoCache, opts.Now, d)
		if d.Status == StatusCached {
			arts[n] = recordArtifact(d.record)
		}
	}
	if len(errs) > 0 {
		return out, maskError(errors.Join(errs...), p.keySecrets)
	}
	return out, nil
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
