package pipeline

import (
	"bytes"
	"strings"
	"sync"
	"time"
)

// Event is one thing that happened in a run, for the terminal, plain logs
// and `--json`.
type Event struct {
	Time     time.Time `json:"time"`
	Node     string    `json:"node"`
	Kind     string    `json:"event"` // start, cached, built, skipped, blocked, failed, interrupted, log
	Reason   string    `json:"reason,omitempty"`
	Artifact string    `json:"artifact,omitempty"`
	Duration string    `json:"duration,omitempty"`
	Error    string    `json:"error,omitempty"`
	Line     string    `json:"line,omitempty"`
}

// Reporter receives a run's events. Calls may come from several goroutines.
type Reporter interface {
	Event(e Event)
}

// ReporterFunc adapts a function to Reporter.
type ReporterFunc func(Event)

// Event calls f.
func (f ReporterFunc) Event(e Event) { f(e) }

// lineWriter turns a provisioner's output into log events, one per line,
// with every secret masked before anything leaves it. It keeps the last
// lines for error messages.
type lineWriter struct {
	mu      sync.Mutex
	node    string
	rep     Reporter
	secrets []string
	buf     []byte
	tail    []string
	maxTail int
}

func newLineWriter(node string, rep Reporter, secrets []string) *lineWriter {
	return &lineWriter{node: node, rep: rep, secrets: secrets, maxTail: 50}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	// A secret can be split across writes, so a partial line is held back
	// until its newline arrives (or Flush), never printed in pieces.
	return len(p), nil
}

// Flush emits a final partial line.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
}

func (w *lineWriter) emit(line string) {
	line = maskString(strings.TrimRight(line, "\r"), w.secrets)
	w.tail = append(w.tail, line)
	if len(w.tail) > w.maxTail {
		w.tail = w.tail[len(w.tail)-w.maxTail:]
	}
	w.rep.Event(Event{Time: time.Now(), Node: w.node, Kind: "log", Line: line})
}

// Tail returns the last lines written.
func (w *lineWriter) Tail() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.tail...)
}
