package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pipebuild/pipe/pipeline"
)

// plainReporter writes one line per event: logs, CI and pipes.
type plainReporter struct {
	mu sync.Mutex
	fn func(pipeline.Event)
}

func (r *plainReporter) Event(e pipeline.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fn(e)
}

func (r *plainReporter) Close() {}

// plainLine renders an event as a timestamped line.
func plainLine(e pipeline.Event) string {
	ts := e.Time.Format("15:04:05")
	switch e.Kind {
	case "log":
		return fmt.Sprintf("%s %s | %s", ts, e.Node, e.Line)
	case "start":
		return fmt.Sprintf("%s %s build (%s)", ts, e.Node, e.Reason)
	case "built":
		return fmt.Sprintf("%s %s built %s in %s", ts, e.Node, e.Artifact, e.Duration)
	case "cached":
		return fmt.Sprintf("%s %s cached %s", ts, e.Node, e.Artifact)
	case "failed", "interrupted":
		return fmt.Sprintf("%s %s %s: %s", ts, e.Node, e.Kind, e.Error)
	}
	return fmt.Sprintf("%s %s %s (%s)", ts, e.Node, e.Kind, e.Reason)
}

// liveReporter prints finished events as lines and keeps a status line at
// the bottom of the terminal with the nodes that are building.
type liveReporter struct {
	mu      sync.Mutex
	w       io.Writer
	running map[string]time.Time
	done    int
	total   int
	stop    chan struct{}
	wg      sync.WaitGroup
}

func newLiveReporter(w io.Writer, total int) *liveReporter {
	r := &liveReporter{w: w, total: total, running: map[string]time.Time{}, stop: make(chan struct{})}
	r.wg.Add(1)
	go r.tick()
	return r
}

func (r *liveReporter) tick() {
	defer r.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.mu.Lock()
			r.redraw()
			r.mu.Unlock()
		}
	}
}

func (r *liveReporter) Event(e pipeline.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprint(r.w, "\r\x1b[K")
	switch e.Kind {
	case "start":
		r.running[e.Node] = e.Time
	case "log":
	default:
		if _, ok := r.running[e.Node]; ok {
			delete(r.running, e.Node)
		}
		r.done++
	}
	fmt.Fprintln(r.w, plainLine(e))
	r.redraw()
}

// redraw writes the status line; the caller holds r.mu.
func (r *liveReporter) redraw() {
	if len(r.running) == 0 {
		fmt.Fprint(r.w, "\r\x1b[K")
		return
	}
	names := make([]string, 0, len(r.running))
	for n, t := range r.running {
		names = append(names, fmt.Sprintf("%s %s", n, time.Since(t).Round(time.Second)))
	}
	sort.Strings(names)
	fmt.Fprintf(r.w, "\r\x1b[K[%d/%d done] building: %s", r.done, r.total, strings.Join(names, ", "))
}

func (r *liveReporter) Close() {
	close(r.stop)
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprint(r.w, "\r\x1b[K")
}
