package cache

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Version is the cache's key version. Bump it to invalidate every key on
// purpose when what enters a key changes.
const Version = "pipe-cache v1"

// ActionID identifies a node's inputs: the sha256 of its key lines.
type ActionID string

// Line is one readable key line: a name and a value. Names are paths such as
// "builder.source.debootstrap.suite", "provision[0].shell.inline",
// "file scripts/harden.sh" or "upstream".
type Line struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// String renders the line as it is hashed.
func (l Line) String() string { return l.Name + " " + l.Value }

// Key accumulates the key lines of one node. Builders and provisioners write
// their own lines; nothing is derived by reflection, so a new config field
// enters a key only when its kind decides so.
type Key struct {
	st     *keyState
	prefix string
}

type keyState struct {
	lines  []Line
	secret []byte
	files  *FileHasher
}

// NewKey returns a key whose sensitive lines are HMAC'd with secret and whose
// file lines are hashed by files (which may be nil for keys without files).
func NewKey(secret []byte, files *FileHasher) *Key {
	k := &Key{st: &keyState{secret: secret, files: files}}
	k.Add("version", Version)
	return k
}

// WithPrefix returns a view of k that prefixes every line name with p and a
// dot. Lines written through the view land in k.
func (k *Key) WithPrefix(p string) *Key {
	return &Key{st: k.st, prefix: k.prefix + p + "."}
}

// Add writes a plain line.
func (k *Key) Add(name, value string) {
	k.st.lines = append(k.st.lines, Line{k.prefix + name, value})
}

// Addf writes a plain line with a formatted value.
func (k *Key) Addf(name, format string, args ...any) {
	k.Add(name, fmt.Sprintf(format, args...))
}

// Secret writes a line for a sensitive value: HMAC-SHA256 under the store's
// secret key, never the value itself.
func (k *Key) Secret(name, value string) {
	m := hmac.New(sha256.New, k.st.secret)
	m.Write([]byte(value))
	k.Add(name, "hmac:"+hex.EncodeToString(m.Sum(nil)))
}

// Lines returns the lines written so far.
func (k *Key) Lines() []Line { return append([]Line(nil), k.st.lines...) }

// Sum returns the ActionID of the lines written so far.
func (k *Key) Sum() ActionID { return Sum(k.st.lines) }

// Sum hashes key lines into an ActionID.
func Sum(lines []Line) ActionID {
	h := sha256.New()
	for _, l := range lines {
		// Names and values are length-prefixed so that no two different line
		// lists hash alike.
		fmt.Fprintf(h, "%d:%s %d:%s\n", len(l.Name), l.Name, len(l.Value), l.Value)
	}
	return ActionID("sha256:" + hex.EncodeToString(h.Sum(nil)))
}

// Format renders lines for PIPE_DEBUG=cachehash=1 and `pipe cache show`.
func Format(lines []Line) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.String())
		b.WriteByte('\n')
	}
	return b.String()
}
