package packer_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/pipebuild/pipe/builders/all"
	"github.com/pipebuild/pipe/pipeline"
	"github.com/pipebuild/pipe/schema/packer"
	stagesall "github.com/pipebuild/pipe/stages/all"
)

const corpusDir = "../../../shared/corpus/packer"

// brokenUpstream are the corpus cases SOURCES.md marks as broken, with a
// word the error must name.
var brokenUpstream = map[string]string{
	"26-4ownops-self-hosted-k3s-debian-dir": "Missing item separator",
}

// knownLoadGaps are amazon-ebs cases whose YAML does not pass
// pipeline.Load yet, and why.
var knownLoadGaps = map[string]string{}

// casePath is what `pipe import` is given for a corpus case.
func casePath(dir string) string {
	ents, _ := os.ReadDir(dir)
	var hcls, jsons []string
	for _, e := range ents {
		switch {
		case strings.HasSuffix(e.Name(), ".pkr.hcl"):
			hcls = append(hcls, e.Name())
		case strings.HasSuffix(e.Name(), ".json"):
			jsons = append(jsons, e.Name())
		}
	}
	if len(hcls) == 1 {
		return filepath.Join(dir, hcls[0])
	}
	if len(hcls) == 0 && len(jsons) == 1 {
		return filepath.Join(dir, jsons[0])
	}
	return dir
}

// countAttrs counts a template's attributes independently of the importer.
func countAttrs(t *testing.T, path string) int {
	t.Helper()
	var files []string
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		m, _ := filepath.Glob(filepath.Join(path, "*.pkr.hcl"))
		files = m
	} else {
		files = []string{path}
	}
	n := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".json") {
			var tpl map[string]any
			if err := json.Unmarshal(src, &tpl); err != nil {
				t.Fatal(err)
			}
			for k, v := range tpl {
				switch k {
				case "variables":
					n += len(v.(map[string]any))
				case "sensitive-variables":
					n += len(v.([]any))
				case "builders", "provisioners":
					for _, x := range v.([]any) {
						n += len(x.(map[string]any))
					}
				case "post-processors":
					for _, x := range v.([]any) {
						switch x := x.(type) {
						case map[string]any:
							n += len(x)
						case []any:
							for _, y := range x {
								if m, ok := y.(map[string]any); ok {
									n += len(m)
								}
							}
						}
					}
				default:
					n++
				}
			}
			continue
		}
		file, diags := hclsyntax.ParseConfig(src, f, hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		hclsyntax.VisitAll(file.Body.(*hclsyntax.Body), func(node hclsyntax.Node) hcl.Diagnostics {
			if _, ok := node.(*hclsyntax.Attribute); ok {
				n++
			}
			return nil
		})
	}
	return n
}

// validValues are values for required variables whose validation rules
// refuse the placeholder loadArgs gives.
var validValues = map[string]string{
	"environment": "dev", // 09: contains(["dev", "staging", "prod"], …)
}

// loadArgs gives every variable without a default a value of its type.
func loadArgs(r *packer.Result) []string {
	var vars []string
	for _, v := range r.Variables {
		region := strings.Contains(v.Name, "region")
		if v.HasDefault && v.Default != nil && !(region && v.Default == "") {
			continue
		}
		val := "x"
		switch v.Type {
		case "number":
			val = "1"
		case "bool":
			val = "true"
		case "list":
			val = "[10.0.0.0/8]"
		case "map":
			val = "{}"
		}
		if strings.Contains(v.Name, "cidr") && v.Type != "list" {
			val = "10.0.0.0/8"
		}
		if strings.Contains(v.Name, "ssh_interface") {
			val = "public_ip"
		}
		if region {
			val = "us-east-1"
			if v.Type == "list" {
				val = "[us-east-1]"
			}
		}
		if x, ok := validValues[v.Name]; ok {
			val = x
		}
		vars = append(vars, v.Name+"="+val)
	}
	return vars
}

func loadYAML(t *testing.T, r *packer.Result) error {
	t.Helper()
	// The corpus does not hold the scripts and files templates refer to:
	// create empty ones, with room for "../" paths.
	dir := filepath.Join(t.TempDir(), "a", "b")
	for _, st := range r.Stages {
		for _, p := range st.Provision {
			for _, k := range []string{"source", "sources", "script", "scripts"} {
				v, _ := p.Config.Get(k)
				l, ok := v.([]any)
				if !ok {
					l = []any{v}
				}
				for _, x := range l {
					s, ok := x.(string)
					if !ok || s == "" || strings.Contains(s, "${{") || filepath.IsAbs(s) {
						continue
					}
					if d, _ := p.Config.Get("direction"); d == "download" {
						continue
					}
					fp := filepath.Join(dir, s)
					_ = os.MkdirAll(filepath.Dir(fp), 0o755)
					if strings.HasSuffix(s, "/") {
						_ = os.MkdirAll(fp, 0o755)
						continue
					}
					_ = os.WriteFile(fp, nil, 0o644)
				}
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "pipe.yaml")
	if err := os.WriteFile(f, r.YAML(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := pipeline.Load(pipeline.Options{
		File:         f,
		Inputs:       pipeline.VarInputs{Vars: loadArgs(r), Environ: []string{}},
		Builders:     all.Registry(),
		Provisioners: stagesall.Registry(),
	})
	return err
}

func amazonOnly(r *packer.Result) bool {
	if len(r.Builders) == 0 {
		return false
	}
	for _, b := range r.Builders {
		if b.Type != "amazon-ebs" && b.Type != "local" {
			return false
		}
	}
	return true
}

func TestCorpus(t *testing.T) {
	ents, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Skipf("corpus not available at %s: %v", corpusDir, err)
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		t.Run(name, func(t *testing.T) {
			path := casePath(filepath.Join(corpusDir, name))
			r, err := packer.Import(path, packer.Options{})
			if want, broken := brokenUpstream[name]; broken {
				if err == nil {
					t.Fatalf("broken upstream, but imported")
				}
				var es packer.Errors
				if !errors.As(err, &es) || es[0].Pos.Line == 0 || !strings.Contains(err.Error(), want) {
					t.Fatalf("want a positioned error naming %q, got %v", want, err)
				}
				t.Logf("error as expected: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			m, w, total := r.Counts()
			if m+w != total {
				t.Errorf("accounting: mapped %d + warned %d != total %d", m, w, total)
			}
			if want := countAttrs(t, path); total != want {
				t.Errorf("accounting: importer counted %d attributes, template has %d", total, want)
			}
			t.Logf("builders %d stages %d warnings %d (mapped %d, warned %d, total %d)", len(r.Builders), len(r.Stages), len(r.Warnings), m, w, total)
			if amazonOnly(r) && len(r.Blockers) > 0 {
				t.Logf("not loaded: %s", strings.Join(r.Blockers, "; "))
			} else if amazonOnly(r) {
				if gap := knownLoadGaps[name]; gap != "" {
					if err := loadYAML(t, r); err != nil {
						t.Skipf("known gap (%s): %v", gap, err)
					}
				}
				if err := loadYAML(t, r); err != nil {
					t.Errorf("pipeline.Load: %v\n%s", err, r.YAML())
				} else {
					t.Logf("pipeline.Load: ok")
				}
			}
		})
	}
}
