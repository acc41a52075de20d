package cache

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// recordPath returns <dir>/records/<pipeline>/<node>/<hex>.json after
// checking that no part of it can escape the store.
func (s *Store) recordPath(pipeline, node string, id ActionID) (string, error) {
	if err := checkNames(pipeline, node); err != nil {
		return "", err
	}
	hexID, err := actionHex(id)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.dir, recordsDir, pipeline, node, hexID+".json"), nil
}

// actionHex returns the hex digest of a well-formed ActionID.
func actionHex(id ActionID) (string, error) {
	h, ok := strings.CutPrefix(string(id), "sha256:")
	if !ok || len(h) != 64 || strings.ToLower(h) != h {
		return "", fmt.Errorf("invalid action id %q", id)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", fmt.Errorf("invalid action id %q", id)
	}
	return h, nil
}

// readRecord reads the record at path, expected to be node's record for id.
// Anything unusable in the file is a miss reported through Warn: a cache
// entry is trusted only after it is checked, and a bad one must never stop
// a build. Only I/O errors other than absence are returned as such.
func (s *Store) readRecord(path, pipeline, node string, id ActionID, withLines bool) (*Record, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("record %s/%s %s: %w", pipeline, node, id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read record: %w", err)
	}
	// The outer Lines shadows Record.Lines, so the lines stay raw bytes
	// unless they are wanted.
	var disk struct {
		Record
		Lines json.RawMessage `json:"lines,omitempty"`
	}
	if err := json.Unmarshal(data, &disk); err != nil {
		return nil, s.corrupt(path, err)
	}
	r := &disk.Record
	if withLines && len(disk.Lines) > 0 {
		if err := json.Unmarshal(disk.Lines, &r.Lines); err != nil {
			return nil, s.corrupt(path, err)
		}
	}
	if r.Pipeline != pipeline || r.Node != node || r.ActionID != id {
		return nil, s.corrupt(path, fmt.Errorf("record is for %s/%s %s", r.Pipeline, r.Node, r.ActionID))
	}
	if err := r.check(); err != nil {
		return nil, s.corrupt(path, err)
	}
	return r, nil
}

func (s *Store) corrupt(path string, err error) error {
	s.warnf("ignoring cache record %s: %v", path, err)
	return fmt.Errorf("record %s: %w", path, ErrNotFound)
}

// check verifies what a record must satisfy to be used: an OutputID to key
// descendants on, a creation time for max_age, and, when it has lines,
// lines that hash to its ActionID (so a plan never explains a key with
// lines that did not make it).
func (r *Record) check() error {
	if _, err := actionHex(r.ActionID); err != nil {
		return err
	}
	if r.OutputID == "" {
		return errors.New("record has no output id")
	}
	if r.Created.IsZero() {
		return errors.New("record has no creation time")
	}
	if len(r.Lines) > 0 {
		if sum := Sum(r.Lines); sum != r.ActionID {
			return fmt.Errorf("record lines hash to %s, not %s", sum, r.ActionID)
		}
	}
	return nil
}
