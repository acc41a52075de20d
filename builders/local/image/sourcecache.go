package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// sourceRecord is sources/<sha>.json: which image the source with these
// key lines produced.
type sourceRecord struct {
	Key    []KeyLine `json:"key"`
	Digest string    `json:"digest"`
}

// keySum hashes key lines the way the record file is named.
func keySum(key []KeyLine) string {
	h := sha256.New()
	for _, l := range key {
		fmt.Fprintf(h, "%s %s\n", l.Name, strings.ReplaceAll(l.Value, "\n", `\n`))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// cachedSource returns the image recorded for key if the store still has
// it, and otherwise runs build, puts its image and records it. One build
// per key runs at a time, across processes: a second stage with the same
// source waits for the first and reuses its image.
func (s *Store) cachedSource(ctx context.Context, key []KeyLine, build func() (v1.Image, error)) (*Base, error) {
	sum := keySum(key)
	path := filepath.Join(s.sourcesDir(), sum+".json")
	unlock, err := lockFile(ctx, filepath.Join(s.sourcesDir(), sum+".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	if base := s.recordedSource(path, key); base != nil {
		return base, nil
	}
	img, err := build()
	if err != nil {
		return nil, err
	}
	base, err := putBase(ctx, s, img, key)
	if err != nil {
		return nil, err
	}
	raw, err := json.MarshalIndent(sourceRecord{Key: key, Digest: base.Digest.String()}, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(path, append(raw, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("record source: %w", err)
	}
	return base, nil
}

// recordedSource reads a source record; an unreadable record or one whose
// image is gone is a miss.
func (s *Store) recordedSource(path string, key []KeyLine) *Base {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var rec sourceRecord
	if json.Unmarshal(raw, &rec) != nil {
		return nil
	}
	d, err := v1.NewHash(rec.Digest)
	if err != nil || !s.Has(d) {
		return nil
	}
	img, err := s.Image(d)
	if err != nil {
		return nil
	}
	return &Base{Image: img, Digest: d, Key: key}
}
