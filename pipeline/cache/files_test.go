package cache

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var testTime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

// waitNextSecond sleeps into the next wall-clock second (past the clock
// slack), so that files written before it are not racy for a hash taken
// after it.
func waitNextSecond(t testing.TB) {
	t.Helper()
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second + 2*clockSlack).Sub(now))
}

// manyFiles writes n small files under root/d and returns root/d.
func manyFiles(t testing.TB, root string, n int) string {
	tr := tree{}
	for i := range n {
		tr[fmt.Sprintf("d/%02d/f%05d", i%50, i)] = fmt.Sprintf("content %d\n", i)
	}
	tr.write(t, root)
	return filepath.Join(root, "d")
}

func keyLines(t testing.TB, h *FileHasher, path string) []Line {
	t.Helper()
	k := NewKey(nil, h)
	if err := k.File("d", path); err != nil {
		t.Fatal(err)
	}
	return k.Lines()
}

// TestFileHasherWarmNoReread checks that a second pass, in the same process
// or after Save and reload, only stats files.
func TestFileHasherWarmNoReread(t *testing.T) {
	root := t.TempDir()
	d := manyFiles(t, root, 300)
	waitNextSecond(t)
	statPath := filepath.Join(root, "state", "statcache.gob")

	h := NewFileHasher(statPath)
	cold := keyLines(t, h, d)
	if got := h.reads.Load(); got != 300 {
		t.Fatalf("cold pass read %d files, want 300", got)
	}
	coldBytes := h.bytesRead.Load()

	warm := keyLines(t, h, d)
	if got := h.bytesRead.Load() - coldBytes; got != 0 || h.reads.Load() != 300 {
		t.Errorf("warm pass read %d more files, %d bytes; want none", h.reads.Load()-300, got)
	}
	if diff := cmp.Diff(cold, warm); diff != "" {
		t.Errorf("warm lines differ (-cold +warm):\n%s", diff)
	}

	if err := h.Save(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(statPath)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("stat cache mode %o, want 600", perm)
	}
	reloaded := NewFileHasher(statPath)
	if diff := cmp.Diff(cold, keyLines(t, reloaded, d)); diff != "" {
		t.Errorf("reloaded lines differ (-cold +reloaded):\n%s", diff)
	}
	if got := reloaded.reads.Load(); got != 0 {
		t.Errorf("pass after reload read %d files, want 0", got)
	}

	// A changed file is read again, and only it.
	if err := os.WriteFile(filepath.Join(d, "07/f00007"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	keyLines(t, reloaded, d)
	if got := reloaded.reads.Load(); got != 1 {
		t.Errorf("pass after one change read %d files, want 1", got)
	}
}

// TestFileHasherRacy simulates a write that the file's stat info does not
// show (same size, timestamps in the same coarse tick): the stat cache entry
// matches the file, and only the racy-clean rule decides whether the stale
// digest is used.
func TestFileHasherRacy(t *testing.T) {
	tests := []struct {
		name     string
		oldMtime bool                           // mtime set back, as tar and cp -p do
		hashed   func(mtime, ctime int64) int64 // the entry's hashing time
		reread   bool
	}{
		{"hashed in the mtime's second", false, func(m, c int64) int64 { return m - m%1e9 + 5e8 }, true},
		{"hashed at the mtime's second start", false, func(m, c int64) int64 { return m - m%1e9 }, true},
		{"hashed before the mtime", false, func(m, c int64) int64 { return m - 1 }, true},
		{"hashed a second later", false, func(m, c int64) int64 { return m - m%1e9 + 1e9 }, false},
		{"old mtime, hashed in the ctime's second", true, func(m, c int64) int64 { return c - c%1e9 + 5e8 }, true},
		{"old mtime, hashed a second after ctime", true, func(m, c int64) int64 { return c - c%1e9 + 1e9 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(p, []byte("old!"), 0o644); err != nil {
				t.Fatal(err)
			}
			h := NewFileHasher("")
			if _, err := h.Hash(p); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("new!"), 0o644); err != nil {
				t.Fatal(err)
			}
			if tt.oldMtime {
				if err := os.Chtimes(p, testTime, testTime); err != nil {
					t.Fatal(err)
				}
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := statOf(fi)
			e := h.entries[p]
			e.fileStat = st // the write left no trace in the stat info
			e.Hashed = tt.hashed(st.Mtime, st.Ctime)
			h.entries[p] = e

			got, err := h.Hash(p)
			if err != nil {
				t.Fatal(err)
			}
			want := sha("old!")
			if tt.reread {
				want = sha("new!")
			}
			if got != want {
				t.Errorf("Hash = %s, want %s (reread=%v)", got, want, tt.reread)
			}
		})
	}
}

func TestFileHasherLoadIgnoresBadCache(t *testing.T) {
	tests := map[string]string{
		"garbage":       "{not json",
		"truncated":     `{"version":1,"entries":{"/x":{"size":1`,
		"other version": `{"version":99,"entries":{"/x":{"sum":"sha256:00"}}}`,
		"relative path": `{"version":1,"entries":{"x":{"sum":"sha256:00"}}}`,
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "statcache.gob")
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if h := NewFileHasher(p); len(h.entries) != 0 {
				t.Errorf("loaded %d entries from a bad cache", len(h.entries))
			}
		})
	}
}

func TestFileHasherHash(t *testing.T) {
	root := t.TempDir()
	tree{"f": "hello", "l": "->f", "d/": ""}.write(t, root)
	h := NewFileHasher("")
	for _, name := range []string{"f", "l"} {
		got, err := h.Hash(filepath.Join(root, name))
		if err != nil || got != sha("hello") {
			t.Errorf("Hash(%s) = %q, %v; want %s", name, got, err, sha("hello"))
		}
	}
	if _, err := h.Hash(filepath.Join(root, "d")); err == nil {
		t.Error("Hash of a directory succeeded")
	}
	if err := NewFileHasher("").Save(); err != nil {
		t.Errorf("Save without a path: %v", err)
	}
}

// BenchmarkKeyFileWarm keys a directory of 2,000 small files whose stat
// cache is warm, the common case of a no-op run.
func BenchmarkKeyFileWarm(b *testing.B) {
	d := manyFiles(b, b.TempDir(), 2000)
	waitNextSecond(b)
	h := NewFileHasher("")
	keyLines(b, h, d)
	reads := h.reads.Load()
	for b.Loop() {
		keyLines(b, h, d)
	}
	if h.reads.Load() != reads {
		b.Fatalf("warm passes read %d files", h.reads.Load()-reads)
	}
}
