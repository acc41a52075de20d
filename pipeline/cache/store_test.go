package cache

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// openStore opens a store in a temp dir with warnings collected instead of
// printed.
func openStore(t *testing.T) (*Store, *[]string) {
	t.Helper()
	t.Setenv("PIPE_CACHE_HMAC_KEY", "")
	s, err := Open(filepath.Join(t.TempDir(), "cache"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	warnings := new([]string)
	s.Warn = func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		*warnings = append(*warnings, fmt.Sprintf(format, args...))
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s, warnings
}

func TestDefaultDir(t *testing.T) {
	tests := []struct {
		name      string
		euid      int
		xdg, home string
		want      string
	}{
		{"root", 0, "/x", "/root", "/var/lib/pipe"},
		{"xdg", 1000, "/x/cache", "/home/u", "/x/cache/pipe"},
		{"relative xdg ignored", 1000, "cache", "/home/u", "/home/u/.cache/pipe"},
		{"home", 1000, "", "/home/u", "/home/u/.cache/pipe"},
		{"no home", 1000, "", "", filepath.Join(os.TempDir(), "pipe-1000")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := defaultDir(tt.euid, tt.xdg, tt.home); got != tt.want {
				t.Errorf("defaultDir = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestResolveDir(t *testing.T) {
	tests := []struct {
		name, flag, env, want string
	}{
		{"flag wins", "/flag", "/env", "/flag"},
		{"env", "", "/env", "/env"},
		{"default", "", "", DefaultDir()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PIPE_CACHE_DIR", tt.env)
			if got := ResolveDir(tt.flag); got != tt.want {
				t.Errorf("ResolveDir(%q) = %q, want %q", tt.flag, got, tt.want)
			}
		})
	}
}

func TestOpenLayout(t *testing.T) {
	s, _ := openStore(t)
	for _, tt := range []struct {
		path string
		mode os.FileMode
	}{
		{"", 0o700 | os.ModeDir},
		{"records", 0o700 | os.ModeDir},
		{"locks", 0o700 | os.ModeDir},
		{"work", 0o700 | os.ModeDir},
		{"secret", 0o600},
	} {
		fi, err := os.Stat(filepath.Join(s.Dir(), tt.path))
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode() != tt.mode {
			t.Errorf("%s: mode %v, want %v", tt.path, fi.Mode(), tt.mode)
		}
	}
	if len(s.Secret()) != secretLen {
		t.Errorf("secret has %d bytes, want %d", len(s.Secret()), secretLen)
	}
	again, err := Open(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Secret(), s.Secret()) {
		t.Error("reopened store has another secret")
	}
	t.Setenv("PIPE_CACHE_HMAC_KEY", "from-env")
	env, err := Open(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if string(env.Secret()) != "from-env" {
		t.Errorf("secret = %q, want the environment's", env.Secret())
	}
}

func TestOpenEmptySecret(t *testing.T) {
	t.Setenv("PIPE_CACHE_HMAC_KEY", "")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Errorf("Open with an empty secret: err = %v, want an error about it", err)
	}
}

// TestOpenConcurrentSecret opens a new store from many goroutines at once:
// all must agree on the secret, or keys would differ between runs.
func TestOpenConcurrentSecret(t *testing.T) {
	t.Setenv("PIPE_CACHE_HMAC_KEY", "")
	dir := filepath.Join(t.TempDir(), "cache")
	secrets := make([][]byte, 64)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range secrets {
		wg.Go(func() {
			<-start
			s, err := Open(dir)
			if err != nil {
				t.Error(err)
				return
			}
			secrets[i] = s.Secret()
		})
	}
	close(start)
	wg.Wait()
	for i, sec := range secrets {
		if !bytes.Equal(sec, secrets[0]) {
			t.Errorf("store %d has secret %x, store 0 has %x", i, sec, secrets[0])
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temp file %s left behind", e.Name())
		}
	}
}

func TestStoreFiles(t *testing.T) {
	s, _ := openStore(t)
	root := t.TempDir()
	tree{"f": "x"}.write(t, root)
	if _, err := s.Files().Hash(filepath.Join(root, "f")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if h := NewFileHasher(filepath.Join(s.Dir(), "statcache.gob")); len(h.entries) != 1 {
		t.Errorf("saved stat cache has %d entries, want 1", len(h.entries))
	}
}

func TestWorkDir(t *testing.T) {
	s, _ := openStore(t)
	a, cleanA, err := s.WorkDir("p", "app@local")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(s.Dir(), "work", "p", "app@local"); filepath.Dir(a) != want {
		t.Errorf("work dir %s: want it under %s", a, want)
	}
	fi, err := os.Stat(a)
	if err != nil || fi.Mode() != 0o700|os.ModeDir {
		t.Fatalf("work dir: %v, %v", fi, err)
	}
	// A build may leave read-only directories behind.
	tree{"ro/f": "x"}.write(t, a)
	chmod(t, filepath.Join(a, "ro"), 0o500)
	if err := cleanA(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a); !os.IsNotExist(err) {
		t.Errorf("work dir still there after cleanup: %v", err)
	}
	if _, _, err := s.WorkDir("p", "../x"); err == nil {
		t.Error("WorkDir accepted a node name with a path")
	}
}

// A run killed outright leaves its work directory; the next build of that
// node (which holds the node's lock) removes it, and nobody else's.
func TestWorkDirSweepsStale(t *testing.T) {
	s, _ := openStore(t)
	stale, _, err := s.WorkDir("p", "app@local")
	if err != nil {
		t.Fatal(err)
	}
	tree{"upper/big": "x"}.write(t, stale)
	other, _, err := s.WorkDir("p_app", "local@x")
	if err != nil {
		t.Fatal(err)
	}
	fresh, _, err := s.WorkDir("p", "app@local")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale work dir %s still there: %v", stale, err)
	}
	for _, d := range []string{other, fresh} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("work dir %s removed: %v", d, err)
		}
	}
}
