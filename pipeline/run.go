package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/pipebuild/pipe/builders"
	"github.com/pipebuild/pipe/pipeline/cache"
	"github.com/pipebuild/pipe/stages"
)

// RunOptions control a run.
type RunOptions struct {
	PlanOptions
	// Jobs is how many nodes may build at once; 0 means the number of CPUs.
	Jobs int
	// KeepGoing continues independent branches after a failure.
	KeepGoing bool
	// Reporter receives events; nil discards them.
	Reporter Reporter
}

// Result is the outcome of every node of a run.
type Result struct {
	Nodes []*NodeResult
	// Interrupted is set when the run was cancelled.
	Interrupted bool
}

// Failed reports whether any node failed.
func (r *Result) Failed() bool {
	for _, n := range r.Nodes {
		if n.Status == StatusFailed {
			return true
		}
	}
	return false
}

// NodeResult is what happened to one node.
type NodeResult struct {
	Node     *Node
	Status   Status
	Reason   string
	ActionID cache.ActionID
	Artifact *builders.Artifact
	Duration time.Duration
	Err      error
}

type doneMsg struct {
	n   *Node
	res *NodeResult
}

// Run builds the pipeline: nodes run as soon as their upstream is done, at
// most Jobs at once. After the first failure no new node starts unless
// KeepGoing; running nodes finish. Cancelling ctx cancels running nodes,
// whose clean-ups still run.
func (p *Pipeline) Run(ctx context.Context, st *cache.Store, opts RunOptions) (*Result, error) {
	forced, err := p.forced(opts.PlanOptions)
	if err != nil {
		return nil, err
	}
	if opts.Jobs <= 0 {
		opts.Jobs = runtime.NumCPU()
	}
	if opts.Reporter == nil {
		opts.Reporter = ReporterFunc(func(Event) {})
	}
	run, err := st.StartRun()
	if err != nil {
		return nil, err
	}
	defer run.Close()
	s := &scheduler{p: p, st: st, opts: opts, forced: forced, ledger: run,
		results: map[*Node]*NodeResult{}, done: make(chan doneMsg)}
	return s.run(ctx), nil
}

type scheduler struct {
	p       *Pipeline
	st      *cache.Store
	opts    RunOptions
	forced  map[string]bool
	results map[*Node]*NodeResult
	done    chan doneMsg
	ledger  *cache.RunLedger
}

func (s *scheduler) run(ctx context.Context) *Result {
	var ready []*Node
	for _, n := range s.p.graph.nodes {
		if n.Up == nil {
			ready = append(ready, n)
		}
	}
	running, stop := 0, false
	for {
		for len(ready) > 0 && running < s.opts.Jobs && !stop && ctx.Err() == nil {
			n := ready[0]
			ready = ready[1:]
			running++
			upRes := s.results[n.Up] // read here: s.results belongs to this goroutine
			go func() { s.done <- doneMsg{n, s.runNode(ctx, n, upRes)} }()
		}
		if running == 0 {
			break
		}
		m := <-s.done
		running--
		s.results[m.n] = m.res
		switch m.res.Status {
		case StatusBuilt, StatusCached:
			ready = append(ready, m.n.Down...)
		case StatusFailed:
			s.blockBelow(m.n, "upstream "+m.n.Name+" failed")
			stop = stop || !s.opts.KeepGoing
		case StatusSkip:
			s.skipBelow(m.n)
		case StatusNotRun:
			s.blockBelow(m.n, "upstream "+m.n.Name+" was interrupted")
		}
	}
	res := &Result{Interrupted: ctx.Err() != nil}
	for _, n := range s.p.graph.nodes {
		r, ok := s.results[n]
		if !ok {
			r = &NodeResult{Node: n, Status: StatusNotRun, Reason: "the run stopped before it started"}
			s.emit(n, "blocked", r.Reason)
		}
		res.Nodes = append(res.Nodes, r)
	}
	return res
}

func (s *scheduler) blockBelow(n *Node, reason string) {
	for _, name := range s.p.graph.descendants(n.Name) {
		d := s.p.graph.byName[name]
		if _, ok := s.results[d]; !ok {
			s.results[d] = &NodeResult{Node: d, Status: StatusBlocked, Reason: reason}
			s.emit(d, "blocked", reason)
		}
	}
}

func (s *scheduler) skipBelow(n *Node) {
	for _, name := range s.p.graph.descendants(n.Name) {
		d := s.p.graph.byName[name]
		reason := "upstream " + n.Name + " is skipped"
		s.results[d] = &NodeResult{Node: d, Status: StatusSkip, Reason: reason}
		s.emit(d, "skipped", reason)
	}
}

func (s *scheduler) emit(n *Node, kind, reason string) {
	s.opts.Reporter.Event(Event{Time: time.Now(), Node: n.Name, Kind: kind, Reason: reason})
}

// runNode resolves a node against its upstream's artifact, reuses a cached
// artifact or builds it, and writes its record.
func (s *scheduler) runNode(ctx context.Context, n *Node, upRes *NodeResult) *NodeResult {
	res := &NodeResult{Node: n}
	var up *builders.Artifact
	if upRes != nil {
		up = upRes.Artifact
	}
	r, err := s.p.resolve(n, up, s.st)
	if err != nil {
		return s.fail(n, res, err)
	}
	res.ActionID = r.id
	r.spec.RunID, r.spec.Ledger = s.ledger.ID, runLedger{s.ledger}
	if s.opts.Debug != nil {
		s.opts.Debug(n.Name, r.lines)
	}
	if !r.when {
		res.Status, res.Reason = StatusSkip, "when: is false"
		s.emit(n, "skipped", res.Reason)
		return res
	}
	force := s.forced[n.Name] || s.opts.NoCache
	// Records are immutable and written atomically, so a hit needs no
	// lock; a miss takes the node's lock and looks again, since another
	// run may have built the node meanwhile.
	if d := s.p.decide(ctx, r, s.st, force, s.opts.Now, &Decision{}); d.Status == StatusCached {
		return s.reuse(ctx, r, d.record, res)
	}
	unlock, err := s.st.Lock(ctx, s.p.Name, n.Name)
	if err != nil {
		return s.interruptedOr(ctx, n, res, fmt.Errorf("lock: %w", err))
	}
	defer unlock()
	d := s.p.decide(ctx, r, s.st, force, s.opts.Now, &Decision{})
	if d.Status == StatusCached {
		return s.reuse(ctx, r, d.record, res)
	}
	s.opts.Reporter.Event(Event{Time: time.Now(), Node: n.Name, Kind: "start", Reason: d.Reason})
	start := time.Now()
	art, err := s.build(ctx, r)
	res.Duration = time.Since(start)
	if err != nil {
		return s.interruptedOr(ctx, n, res, err)
	}
	if err := s.record(r, upRes, art, res.Duration); err != nil {
		return s.fail(n, res, err)
	}
	if err := s.publish(ctx, r, art); err != nil {
		return s.fail(n, res, err)
	}
	res.Status, res.Artifact, res.Reason = StatusBuilt, art, d.Reason
	s.opts.Reporter.Event(Event{Time: time.Now(), Node: n.Name, Kind: "built", Artifact: art.ID,
		Duration: res.Duration.Round(time.Millisecond).String()})
	return res
}

func (s *scheduler) reuse(ctx context.Context, r *resolved, rec *cache.Record, res *NodeResult) *NodeResult {
	art := recordArtifact(rec)
	out := newLineWriter(r.node.Name, s.opts.Reporter, s.p.Secrets)
	defer out.Flush()
	r.spec.Log = out
	if err := s.publish(ctx, r, art); err != nil {
		return s.fail(r.node, res, err)
	}
	res.Status, res.Artifact = StatusCached, art
	s.opts.Reporter.Event(Event{Time: time.Now(), Node: r.node.Name, Kind: "cached", Artifact: art.ID})
	return res
}

func (s *scheduler) publish(ctx context.Context, r *resolved, art *builders.Artifact) error {
	pub, ok := r.node.Builder.(builders.Publisher)
	if !ok {
		return nil
	}
	if err := pub.Publish(ctx, r.spec, art); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

// record writes the node's cache record; only a complete build gets one.
func (s *scheduler) record(r *resolved, upRes *NodeResult, art *builders.Artifact, took time.Duration) error {
	data, err := json.Marshal(art)
	if err != nil {
		return err
	}
	rec := &cache.Record{Pipeline: s.p.Name, Node: r.node.Name, ActionID: r.id, OutputID: art.OutputID,
		Builder: r.node.Builder.Type(), Artifact: data, Lines: r.lines, Vars: r.vars,
		Created: time.Now().UTC(), Duration: took}
	if upRes != nil {
		rec.Parent = upRes.Node.Name
		rec.ParentAction = upRes.ActionID
	}
	if err := s.st.Put(rec); err != nil {
		return fmt.Errorf("write cache record: %w", err)
	}
	return nil
}

// build launches a machine, runs the provisioners and captures the result.
// Every undo runs, on success, failure and cancellation alike.
func (s *scheduler) build(ctx context.Context, r *resolved) (art *builders.Artifact, err error) {
	work, cleanup, err := s.st.WorkDir(s.p.Name, r.node.Name)
	if err != nil {
		return nil, err
	}
	undo := &builders.Undo{}
	undo.Push("remove work directory", func(context.Context) error { return cleanup() })
	defer func() {
		if uerr := undo.Run(ctx); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}()
	out := newLineWriter(r.node.Name, s.opts.Reporter, s.p.Secrets)
	defer out.Flush()
	r.spec.WorkDir, r.spec.ActionID, r.spec.Log = work, string(r.id), out
	m, err := r.node.Builder.Launch(ctx, r.spec, undo)
	if err != nil {
		return nil, fmt.Errorf("launch: %w", err)
	}
	env := &stages.Env{Node: r.node.Name, BuilderType: r.node.Builder.Type(), Dir: s.p.Dir,
		Comm: m.Communicator(), Stdout: out, Stderr: out}
	if h, ok := m.(builders.HostDirMachine); ok {
		env.HostDir = h.HostDir()
	}
	for i, rp := range r.provs {
		if err := rp.impl.Run(ctx, rp.cfg, env); err != nil {
			out.Flush()
			return nil, &StepError{Index: i, Type: rp.def.Type, Pos: rp.def.Pos.String(), Err: err, Tail: out.Tail()}
		}
	}
	art, err = m.Capture(ctx)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	return art, nil
}

// StepError is a failed provisioner, with the end of its output.
type StepError struct {
	Index int
	Type  string
	Pos   string
	Err   error
	Tail  []string
}

func (e *StepError) Error() string {
	return fmt.Sprintf("provision[%d] %s (%s): %v", e.Index, e.Type, e.Pos, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// NodeError is a failed node: the stage, its builder and its YAML position.
type NodeError struct {
	Node *Node
	Err  error
}

func (e *NodeError) Error() string {
	return fmt.Sprintf("stage %s on %s (%s): %v", e.Node.Stage, e.Node.BuilderName, e.Node.Def.Pos, e.Err)
}

func (e *NodeError) Unwrap() error { return e.Err }

func (s *scheduler) fail(n *Node, res *NodeResult, err error) *NodeResult {
	res.Status, res.Err = StatusFailed, &NodeError{Node: n, Err: err}
	msg := maskString(res.Err.Error(), s.p.Secrets)
	var se *StepError
	if errors.As(err, &se) && len(se.Tail) > 0 {
		msg += "\nlast lines of output:\n  " + strings.Join(se.Tail, "\n  ")
	}
	s.opts.Reporter.Event(Event{Time: time.Now(), Node: n.Name, Kind: "failed", Error: msg})
	return res
}

func (s *scheduler) interruptedOr(ctx context.Context, n *Node, res *NodeResult, err error) *NodeResult {
	if ctx.Err() == nil {
		return s.fail(n, res, err)
	}
	res.Status, res.Reason, res.Err = StatusNotRun, "interrupted", err
	s.opts.Reporter.Event(Event{Time: time.Now(), Node: n.Name, Kind: "interrupted", Error: maskString(err.Error(), s.p.Secrets)})
	return res
}

// runLedger adapts the store's run ledger to builders.Ledger. A resource's
// key is its name when it has one, so that the entry recorded before a
// create call and the one recorded with the returned id are the same.
type runLedger struct{ l *cache.RunLedger }

func (rl runLedger) Record(r builders.Resource) error { return rl.l.Record(resourceKey(r), r) }

func (rl runLedger) Forget(r builders.Resource) error { return rl.l.Forget(resourceKey(r)) }

func resourceKey(r builders.Resource) string {
	id := r.Name
	if id == "" {
		id = r.ID
	}
	return r.Builder + "/" + r.Region + "/" + r.Kind + "/" + id
}
