package cache

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// runsDir holds one registration and one ledger per run of pipe.
const runsDir = "runs"

// RunLedger is a run's registration in the store and its append-only
// ledger of temporary resources. Entries are opaque JSON to the cache;
// each line is fsynced before the call that creates the resource, so that
// a run killed at any point leaves a ledger that names everything it may
// have created.
type RunLedger struct {
	ID   string
	mu   sync.Mutex
	f    *os.File
	dir  string
	open map[string]json.RawMessage // key → entry, for Close
}

// runInfo is the registration file: enough to tell whether the run is
// still alive (a PID can be reused; its start time cannot).
type runInfo struct {
	ID        string    `json:"id"`
	PID       int       `json:"pid"`
	StartTime uint64    `json:"start_time"` // /proc/PID/stat field 22
	Created   time.Time `json:"created"`
}

type ledgerLine struct {
	Op    string          `json:"op"` // "record" or "forget"
	Key   string          `json:"key"`
	Entry json.RawMessage `json:"entry,omitempty"`
}

// StartRun registers a new run of this process and opens its ledger.
func (s *Store) StartRun() (*RunLedger, error) {
	id, err := newRunID()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, runsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("start run: %w", err)
	}
	info := runInfo{ID: id, PID: os.Getpid(), StartTime: processStart(os.Getpid()), Created: time.Now().UTC()}
	data, _ := json.Marshal(info)
	if err := writeFileAtomic(filepath.Join(dir, id+".json"), data, 0o600); err != nil {
		return nil, fmt.Errorf("start run: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, id+".ledger"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start run: %w", err)
	}
	return &RunLedger{ID: id, f: f, dir: dir, open: map[string]json.RawMessage{}}, nil
}

func newRunID() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b), nil
}

// Record appends entry under key (the same key for the entry recorded
// before creation and again with its id) and syncs it to disk.
func (l *RunLedger) Record(key string, entry any) error {
	raw, err := json.Marshal(entry)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open[key] = raw
	return l.append(ledgerLine{Op: "record", Key: key, Entry: raw})
}

// Forget marks key's resource as gone (deleted, or kept as an artifact).
func (l *RunLedger) Forget(key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.open, key)
	return l.append(ledgerLine{Op: "forget", Key: key})
}

func (l *RunLedger) append(line ledgerLine) error {
	data, _ := json.Marshal(line)
	if _, err := l.f.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("ledger %s: %w", l.ID, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("ledger %s: %w", l.ID, err)
	}
	return nil
}

// Close ends the run. A run that leaves nothing behind removes its files;
// otherwise they stay for `pipe cleanup`.
func (l *RunLedger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.f.Close()
	if len(l.open) == 0 {
		os.Remove(filepath.Join(l.dir, l.ID+".ledger"))
		os.Remove(filepath.Join(l.dir, l.ID+".json"))
	}
	return err
}

// Run describes a registered run for `pipe cleanup`.
type Run struct {
	ID      string
	Alive   bool
	Created time.Time
	// Outstanding are the entries recorded and not forgotten, in order.
	Outstanding []json.RawMessage
}

// Runs lists the registered runs with their outstanding entries.
func (s *Store) Runs() ([]Run, error) {
	dir := filepath.Join(s.dir, runsDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	var out []Run
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		r, err := s.readRun(dir, id)
		if err != nil {
			s.warnf("ignoring run %s: %v", id, err)
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

func (s *Store) readRun(dir, id string) (Run, error) {
	data, err := os.ReadFile(filepath.Join(dir, id+".json"))
	if err != nil {
		return Run{}, err
	}
	var info runInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return Run{}, err
	}
	r := Run{ID: id, Created: info.Created, Alive: info.PID > 0 && processStart(info.PID) == info.StartTime && info.StartTime != 0}
	ledger, err := os.ReadFile(filepath.Join(dir, id+".ledger"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Run{}, err
	}
	r.Outstanding = outstanding(ledger)
	return r, nil
}

// outstanding replays a ledger; a torn last line (a crash mid-write) is
// ignored, since its resource was not created yet.
func outstanding(ledger []byte) []json.RawMessage {
	open := map[string]json.RawMessage{}
	var order []string
	sc := bufio.NewScanner(bytes.NewReader(ledger))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l ledgerLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		switch l.Op {
		case "record":
			if _, seen := open[l.Key]; !seen {
				order = append(order, l.Key)
			}
			open[l.Key] = l.Entry
		case "forget":
			delete(open, l.Key)
		}
	}
	var out []json.RawMessage
	for _, k := range order {
		if e, ok := open[k]; ok {
			out = append(out, e)
			delete(open, k)
		}
	}
	return out
}

// RemoveRun deletes a dead run's files once its resources are cleaned up.
func (s *Store) RemoveRun(id string) error {
	if strings.ContainsAny(id, `/\`) || strings.HasPrefix(id, ".") {
		return fmt.Errorf("invalid run id %q", id)
	}
	dir := filepath.Join(s.dir, runsDir)
	err1 := os.Remove(filepath.Join(dir, id+".ledger"))
	err2 := os.Remove(filepath.Join(dir, id+".json"))
	if err1 != nil && !errors.Is(err1, os.ErrNotExist) {
		return err1
	}
	if err2 != nil && !errors.Is(err2, os.ErrNotExist) {
		return err2
	}
	return nil
}

// RunAlive reports whether the run with id is registered and alive.
func (s *Store) RunAlive(id string) bool {
	if strings.ContainsAny(id, `/\`) || strings.HasPrefix(id, ".") {
		return false
	}
	r, err := s.readRun(filepath.Join(s.dir, runsDir), id)
	return err == nil && r.Alive
}

// processStart returns a process's start time in clock ticks since boot
// (field 22 of /proc/PID/stat), or 0 if it does not exist.
func processStart(pid int) uint64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields resume after ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(fields[19], 10, 64)
	return n
}
