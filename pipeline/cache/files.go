package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// statCacheVersion is bumped when the stat cache's format or meaning changes;
// a file of another version is ignored, never misread.
const statCacheVersion = 2

// clockSlack is subtracted from the hashing time before the racy-clean check.
// File timestamps come from the kernel's coarse clock, which may lag
// time.Now by a tick; without the slack a write landing just after a second
// boundary could look older than the hash.
const clockSlack = 20 * time.Millisecond

// FileHasher hashes local files and directories for key lines. It keeps a
// stat cache (size, mtime, ctime, inode, device → digest) so that unchanged
// files are not read again, and applies git's racy-clean rule: an entry is
// trusted only when the file's timestamps are older than the second in which
// its hash was taken. Create one with NewFileHasher; it is safe for
// concurrent use.
type FileHasher struct {
	path string // stat cache file; "" means no persistence

	mu      sync.RWMutex
	entries map[string]statEntry // by absolute path
	gen     uint64               // bumped on every change
	saved   uint64               // gen last written by Save

	// Hooks and counters for in-package tests.
	now       func() time.Time
	open      func(name string) (*os.File, error)
	reads     atomic.Int64 // files opened and hashed
	bytesRead atomic.Int64
}

// fileStat is what must be unchanged for a cached digest to be trusted.
type fileStat struct {
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime"` // ns since the epoch
	Ctime int64  `json:"ctime"` // ns since the epoch
	Ino   uint64 `json:"ino"`
	Dev   uint64 `json:"dev"`
}

type statEntry struct {
	fileStat
	Hashed int64  `json:"hashed"` // ns since the epoch, taken before reading
	Sum    string `json:"sum"`    // "sha256:<hex>"
}

// statCacheFile is the stat cache on disk, as gob: flat records rather than
// the in-memory map, since gob skips embedded unexported structs.
type statCacheFile struct {
	Version int
	Entries []statRecord
}

type statRecord struct {
	Path               string
	Size, Mtime, Ctime int64
	Ino, Dev           uint64
	Hashed             int64
	Sum                string
}

// NewFileHasher returns a hasher whose stat cache is loaded from and saved to
// statCachePath; an empty path keeps the cache in memory only. A missing or
// unreadable stat cache file starts an empty cache: it only saves work, so
// losing it costs a re-read, never a wrong key.
func NewFileHasher(statCachePath string) *FileHasher {
	h := &FileHasher{
		path:    statCachePath,
		entries: map[string]statEntry{},
		now:     time.Now,
		open:    os.Open,
	}
	if statCachePath != "" {
		h.load()
	}
	return h
}

func (h *FileHasher) load() {
	data, err := os.ReadFile(h.path)
	if err != nil {
		return
	}
	// gob, not JSON: a no-op run loads tens of thousands of entries, and
	// gob decodes them several times faster.
	var f statCacheFile
	if gob.NewDecoder(bytes.NewReader(data)).Decode(&f) != nil || f.Version != statCacheVersion {
		return
	}
	for _, r := range f.Entries {
		if filepath.IsAbs(r.Path) && r.Sum != "" {
			h.entries[r.Path] = statEntry{
				fileStat: fileStat{Size: r.Size, Mtime: r.Mtime, Ctime: r.Ctime, Ino: r.Ino, Dev: r.Dev},
				Hashed:   r.Hashed, Sum: r.Sum,
			}
		}
	}
}

// Save writes the stat cache atomically (temp file and rename), so a crash
// leaves either the old cache or the new one. It does nothing when the
// hasher has no path or nothing changed. Concurrent runs sharing one file
// may overwrite each other's new entries; that costs re-reads, not
// correctness.
func (h *FileHasher) Save() error {
	if h.path == "" {
		return nil
	}
	h.mu.RLock()
	gen := h.gen
	if gen == h.saved {
		h.mu.RUnlock()
		return nil
	}
	f := statCacheFile{Version: statCacheVersion, Entries: make([]statRecord, 0, len(h.entries))}
	for p, e := range h.entries {
		f.Entries = append(f.Entries, statRecord{Path: p, Size: e.Size, Mtime: e.Mtime, Ctime: e.Ctime,
			Ino: e.Ino, Dev: e.Dev, Hashed: e.Hashed, Sum: e.Sum})
	}
	h.mu.RUnlock()
	var buf bytes.Buffer
	err := gob.NewEncoder(&buf).Encode(f)
	data := buf.Bytes()
	if err != nil {
		return fmt.Errorf("save stat cache %s: %w", h.path, err)
	}
	if err := os.MkdirAll(filepath.Dir(h.path), 0o700); err != nil {
		return fmt.Errorf("save stat cache: %w", err)
	}
	if err := writeFileAtomic(h.path, data, 0o600); err != nil {
		return fmt.Errorf("save stat cache: %w", err)
	}
	h.mu.Lock()
	h.saved = max(h.saved, gen)
	h.mu.Unlock()
	return nil
}

// Hash returns "sha256:<hex>" of the bytes of the regular file at path
// (symlinks are followed), using the stat cache when it can be trusted.
func (h *FileHasher) Hash(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("hash %s: not a regular file (%s)", abs, fi.Mode().Type())
	}
	return h.hashInfo(abs, fi)
}

// hashInfo hashes the regular file at abs, whose stat info the caller
// already has, reading it only when the stat cache cannot answer.
func (h *FileHasher) hashInfo(abs string, fi fs.FileInfo) (string, error) {
	if sum, ok := h.lookup(abs, fi); ok {
		return sum, nil
	}
	return h.read(abs)
}

func (h *FileHasher) lookup(abs string, fi fs.FileInfo) (string, bool) {
	st, ok := statOf(fi)
	if !ok {
		return "", false
	}
	h.mu.RLock()
	e, ok := h.entries[abs]
	h.mu.RUnlock()
	if !ok || e.fileStat != st || racy(e) {
		return "", false
	}
	return e.Sum, true
}

// racy reports whether the file may have changed after its hash was taken
// without its stat info showing it: its mtime or ctime falls in (or after)
// the second in which hashing started. ctime is checked too because tools
// that preserve mtimes (tar, cp -p) still move ctime.
func racy(e statEntry) bool {
	cut := e.Hashed - e.Hashed%int64(time.Second)
	return max(e.Mtime, e.Ctime) >= cut
}

// read hashes the file's bytes and records a stat cache entry from the open
// file's own stat, taken before reading, with the time hashing started: a
// write during the read then makes the entry racy or stale.
func (h *FileHasher) read(abs string) (string, error) {
	start := h.now().Add(-clockSlack).UnixNano()
	f, err := h.open(abs)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("hash %s: not a regular file (%s)", abs, fi.Mode().Type())
	}
	d := sha256.New()
	n, err := io.Copy(d, f)
	h.reads.Add(1)
	h.bytesRead.Add(n)
	if err != nil {
		return "", err
	}
	sum := "sha256:" + hex.EncodeToString(d.Sum(nil))
	if st, ok := statOf(fi); ok {
		h.mu.Lock()
		h.entries[abs] = statEntry{fileStat: st, Hashed: start, Sum: sum}
		h.gen++
		h.mu.Unlock()
	}
	return sum, nil
}
