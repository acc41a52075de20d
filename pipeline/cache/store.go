package cache

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Store is the local cache store: records, locks, a secret key and a stat
// cache in one directory. See the package documentation for its layout.
// Methods are safe for concurrent use, within one process and across
// processes sharing the directory.
type Store struct {
	// Warn reports problems the store recovers from, such as a corrupt
	// record read as a miss. It defaults to a line on os.Stderr.
	Warn func(format string, args ...any)

	dir    string
	secret []byte
	files  *FileHasher
	now    func() time.Time
}

// Subdirectories of a store.
const (
	recordsDir = "records"
	locksDir   = "locks"
	workDir    = "work"
)

// DefaultDir returns the default store directory: /var/lib/pipe for root,
// else $XDG_CACHE_HOME/pipe, else ~/.cache/pipe. Never the user's
// repository, so that a checkout stays clean and shareable.
func DefaultDir() string {
	home, _ := os.UserHomeDir()
	return defaultDir(os.Geteuid(), os.Getenv("XDG_CACHE_HOME"), home)
}

func defaultDir(euid int, xdg, home string) string {
	switch {
	case euid == 0:
		return "/var/lib/pipe"
	case filepath.IsAbs(xdg):
		// The XDG spec says relative values are invalid and must be ignored.
		return filepath.Join(xdg, "pipe")
	case home != "":
		return filepath.Join(home, ".cache", "pipe")
	default:
		return filepath.Join(os.TempDir(), fmt.Sprintf("pipe-%d", euid))
	}
}

// ResolveDir returns the store directory to use: flag (--cache-dir) if set,
// else $PIPE_CACHE_DIR, else DefaultDir.
func ResolveDir(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv("PIPE_CACHE_DIR"); env != "" {
		return env
	}
	return DefaultDir()
}

// Open opens the store in dir, creating it (mode 0700) and its
// subdirectories, and loading or creating its secret key. Close it to save
// the stat cache.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open cache %s: %w", dir, err)
	}
	for _, sub := range []string{"", recordsDir, locksDir, workDir} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o700); err != nil {
			return nil, fmt.Errorf("open cache: %w", err)
		}
	}
	s := &Store{dir: abs, now: time.Now}
	s.Warn = defaultWarn
	if s.secret, err = s.loadSecret(); err != nil {
		return nil, fmt.Errorf("open cache %s: %w", abs, err)
	}
	s.files = NewFileHasher(filepath.Join(abs, "statcache.gob"))
	return s, nil
}

func defaultWarn(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pipe: warning: "+format+"\n", args...)
}

func (s *Store) warnf(format string, args ...any) {
	if s.Warn != nil {
		s.Warn(format, args...)
	}
}

// Dir returns the store's absolute directory.
func (s *Store) Dir() string { return s.dir }

// Secret returns the key under which sensitive key lines are HMAC'd.
func (s *Store) Secret() []byte { return s.secret }

// Files returns the store's file hasher, whose stat cache persists in the
// store across runs.
func (s *Store) Files() *FileHasher { return s.files }

// Close saves the stat cache. Records and locks need no closing.
func (s *Store) Close() error { return s.files.Save() }

// maxNameLen keeps "<node>.lock" and record directories within the usual
// 255-byte file name limit.
const maxNameLen = 200

// checkName rejects pipeline and node names that could escape the store
// when used as path elements.
func checkName(kind, name string) error {
	if name == "" || name == "." || name == ".." || len(name) > maxNameLen {
		return fmt.Errorf("invalid %s name %q", kind, name)
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.ContainsRune("_.@-", c)
		if !ok {
			return fmt.Errorf("invalid %s name %q: only letters, digits and _.@- are allowed", kind, name)
		}
	}
	return nil
}

func checkNames(pipeline, node string) error {
	if err := checkName("pipeline", pipeline); err != nil {
		return err
	}
	return checkName("node", node)
}
