package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/pipebuild/pipe/schema"
)

var update = flag.Bool("update", false, "rewrite generated files (schema/pipe.schema.json)")

// TestSchemaUpToDate checks that schema/pipe.schema.json, which `pipe
// schema` prints, matches the builders and provisioners pipe ships and
// their doc comments.
func TestSchemaUpToDate(t *testing.T) {
	docs, err := schema.SourceDocs("../..", "github.com/pipebuild/pipe")
	if err != nil {
		t.Fatal(err)
	}
	got, err := schema.Generate(kinds(), docs)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join("..", "..", "schema", "pipe.schema.json")
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("schema/pipe.schema.json is stale: run go test ./cmd/pipe -run TestSchemaUpToDate -update")
	}
}

// TestSchemaCommand checks that `pipe schema` prints the embedded schema.
func TestSchemaCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	root := newRoot(&stdout, &stderr)
	root.SetArgs([]string{"schema"})
	if err := root.Execute(); err != nil {
		t.Fatalf("pipe schema: %v (stderr %q)", err, stderr.String())
	}
	if !bytes.Equal(stdout.Bytes(), schema.JSON) {
		t.Fatal("pipe schema did not print schema.JSON")
	}
}
