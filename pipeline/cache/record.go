package cache

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ErrNotFound is returned (wrapped) when the store has no usable record.
var ErrNotFound = errors.New("cache record not found")

// Record is what the store keeps for one built node: enough to reuse its
// artifact, to explain the next plan and to trace lineage.
type Record struct {
	Pipeline string   `json:"pipeline"`
	Node     string   `json:"node"`
	ActionID ActionID `json:"action_id"`
	// OutputID is the digest of what was built; descendants key on it.
	OutputID string `json:"output_id"`
	Builder  string `json:"builder"`
	// Artifact is the builder's description of the result, opaque here.
	Artifact json.RawMessage `json:"artifact,omitempty"`
	// Lines are the key lines ActionID was computed from, kept so that a
	// plan can say which line changed.
	Lines []Line `json:"lines,omitempty"`
	// Parent is the upstream node's name, "" for a root node.
	Parent       string   `json:"parent,omitempty"`
	ParentAction ActionID `json:"parent_action,omitempty"`
	// Vars maps variable names to a hash or HMAC of their values, opaque
	// here.
	Vars    map[string]string `json:"vars,omitempty"`
	Created time.Time         `json:"created"`
	// Duration is how long the build took, in JSON as nanoseconds.
	Duration time.Duration `json:"duration"`
}

// Get returns the record of node's build for id. A missing record, and one
// that is corrupt or does not match the request, is ErrNotFound; the latter
// is also reported through Warn. The record's Lines are left out: a cache
// hit needs only the artifact, and decoding every key line of every node
// would dominate a no-op run (Latest and List load them).
func (s *Store) Get(pipeline, node string, id ActionID) (*Record, error) {
	path, err := s.recordPath(pipeline, node, id)
	if err != nil {
		return nil, err
	}
	return s.readRecord(path, pipeline, node, id, false)
}

// Latest returns the newest valid record of node by Created, the baseline
// against which a plan explains a rebuild.
func (s *Store) Latest(pipeline, node string) (*Record, error) {
	if err := checkNames(pipeline, node); err != nil {
		return nil, err
	}
	recs, err := s.nodeRecords(pipeline, node)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("latest record of %s/%s: %w", pipeline, node, ErrNotFound)
	}
	return recs[len(recs)-1], nil
}

// Put stores r atomically: readers see the previous record for its key or
// the complete new one, never a partial file, even after a crash. A zero
// Created is set to the current time.
func (s *Store) Put(r *Record) error {
	path, err := s.recordPath(r.Pipeline, r.Node, r.ActionID)
	if err != nil {
		return fmt.Errorf("put record: %w", err)
	}
	if r.Created.IsZero() {
		r.Created = s.now().UTC()
	}
	if err := r.check(); err != nil {
		return fmt.Errorf("put record %s: %w", path, err)
	}
	// Compact, not indented: indenting would rewrite the opaque Artifact.
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("put record %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("put record: %w", err)
	}
	if err := writeFileAtomic(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("put record: %w", err)
	}
	return nil
}

// Delete removes r's record. Deleting a record that is already gone is not
// an error, so that concurrent prunes do not fail each other.
func (s *Store) Delete(r *Record) error {
	path, err := s.recordPath(r.Pipeline, r.Node, r.ActionID)
	if err != nil {
		return fmt.Errorf("delete record: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete record: %w", err)
	}
	return nil
}

// List returns the valid records of pipeline ("" for all pipelines), sorted
// by pipeline, node and Created.
func (s *Store) List(pipeline string) ([]*Record, error) {
	pipelines := []string{pipeline}
	if pipeline == "" {
		var err error
		if pipelines, err = s.subdirs(filepath.Join(s.dir, recordsDir)); err != nil {
			return nil, err
		}
	} else if err := checkName("pipeline", pipeline); err != nil {
		return nil, err
	}
	var all []*Record
	for _, p := range pipelines {
		nodes, err := s.subdirs(filepath.Join(s.dir, recordsDir, p))
		if err != nil {
			return nil, err
		}
		for _, n := range nodes {
			recs, err := s.nodeRecords(p, n)
			if err != nil {
				return nil, err
			}
			all = append(all, recs...)
		}
	}
	return all, nil
}

// nodeRecords returns node's valid records sorted by Created (then
// ActionID, so that the order is total).
func (s *Store) nodeRecords(pipeline, node string) ([]*Record, error) {
	dir := filepath.Join(s.dir, recordsDir, pipeline, node)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	var recs []*Record
	for _, e := range entries {
		hexID, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
			continue // temp files and strays
		}
		r, err := s.readRecord(filepath.Join(dir, e.Name()), pipeline, node, ActionID("sha256:"+hexID), true)
		if errors.Is(err, ErrNotFound) {
			continue // warned, or removed since ReadDir
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	slices.SortFunc(recs, func(a, b *Record) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(string(a.ActionID), string(b.ActionID)))
	})
	return recs, nil
}

// subdirs lists the names of dir's subdirectories that are valid names, in
// lexical order; a missing dir has none.
func (s *Store) subdirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && checkName("", e.Name()) == nil {
			names = append(names, e.Name())
		}
	}
	return names, nil
}
