package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportCorpusReport runs `pipe import --report` over the shared corpus
// when it is present: only the case broken upstream fails.
func TestImportCorpusReport(t *testing.T) {
	dirs, _ := filepath.Glob("../../../shared/corpus/packer/*-*")
	if len(dirs) == 0 {
		t.Skip("corpus not available at ../../../shared/corpus/packer")
	}
	var out, errb bytes.Buffer
	root := newRoot(&out, &errb)
	root.SetArgs(append([]string{"import", "--report"}, dirs...))
	err := root.Execute()
	if err == nil || exitCode(err) != exitConfig {
		t.Fatalf("want exit 3 for the broken case, got %v", err)
	}
	if n := strings.Count(out.String(), ": error: "); n != 1 || !strings.Contains(out.String(), "26-4ownops") {
		t.Errorf("want exactly case 26 to fail, got:\n%s", out.String())
	}
	if _, err := os.Stat("pipe.yaml"); err == nil {
		t.Log("note: pipe.yaml exists in the package directory")
	}
}
