package cache

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// secretLen is the size of a generated secret key: that of a SHA-256 block
// output, the most HMAC-SHA256 can use without hashing the key first.
const secretLen = 32

// loadSecret returns the HMAC key: $PIPE_CACHE_HMAC_KEY's bytes when set (so
// CI runners sharing a remote store agree on it), else <dir>/secret, created
// with random bytes on first use.
func (s *Store) loadSecret() ([]byte, error) {
	if env := os.Getenv("PIPE_CACHE_HMAC_KEY"); env != "" {
		return []byte(env), nil
	}
	path := filepath.Join(s.dir, "secret")
	key, err := readSecret(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	fresh := make([]byte, secretLen)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("generate secret: %w", err)
	}
	// Two processes opening a new store at once race here; the hard link
	// lets exactly one win, and both then read the winner's key.
	if _, err := createFileOnce(path, fresh, 0o600); err != nil {
		return nil, fmt.Errorf("create secret %s: %w", path, err)
	}
	return readSecret(path)
}

func readSecret(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("secret %s is empty (delete it to generate a new one, which changes every key with secrets)", path)
	}
	return key, nil
}
