package packer_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipebuild/pipe/schema/packer"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGolden imports each testdata/golden template and compares the YAML
// and the warnings with NAME.yaml and NAME.warnings.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/golden/*.pkr.hcl")
	jsons, _ := filepath.Glob("testdata/golden/*.json")
	files = append(files, jsons...)
	if len(files) == 0 {
		t.Fatal("no golden templates")
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(f), ".pkr.hcl"), ".json")
		t.Run(name, func(t *testing.T) {
			r, err := packer.Import(f, packer.Options{})
			if err != nil {
				t.Fatal(err)
			}
			m, w, total := r.Counts()
			if m+w != total || total != countAttrs(t, f) {
				t.Errorf("accounting: %d + %d != %d (template has %d)", m, w, total, countAttrs(t, f))
			}
			var ws strings.Builder
			for _, x := range r.Warnings {
				ws.WriteString(x.String() + "\n")
			}
			for ext, got := range map[string]string{".yaml": string(r.YAML()), ".warnings": ws.String()} {
				gf := filepath.Join("testdata/golden", name+ext)
				if *update {
					if err := os.WriteFile(gf, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(gf)
				if err != nil {
					t.Fatalf("%v (run with -update)", err)
				}
				if string(want) != got {
					t.Errorf("%s differs:\n--- want\n%s\n--- got\n%s", gf, want, got)
				}
			}
			if err := loadYAML(t, r); err != nil {
				t.Errorf("pipeline.Load: %v", err)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, src, want string }{
		{"syntax.pkr.hcl", "source \"amazon-ebs\" \"x\" {\n  a = [\"b\" \"c\"]\n}\n", "syntax.pkr.hcl:2:"},
		{"block.pkr.hcl", "bogus \"x\" {}\n", `Unsupported block type`},
		{"missing.pkr.hcl", "build {\n  sources = [\"source.amazon-ebs.nope\"]\n}\n", `missing.pkr.hcl:2:14: build refers to source "source.amazon-ebs.nope", which is not declared`},
		{"bad.json", "{\n  \"builders\": [\n    {\"type\": \"amazon-ebs\",}\n  ]\n}\n", "bad.json:3:"},
	} {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, []byte(c.src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := packer.Import(p, packer.Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

func TestVarPrecedence(t *testing.T) {
	dir := t.TempDir()
	tpl := filepath.Join(dir, "t.pkr.hcl")
	os.WriteFile(tpl, []byte("variable \"a\" {\n  default = \"def\"\n}\n"), 0o644)
	vf := filepath.Join(dir, "v.pkrvars.hcl")
	os.WriteFile(vf, []byte("a = \"file\"\n"), 0o644)
	for _, c := range []struct {
		opts packer.Options
		want string
	}{
		{packer.Options{}, "def"},
		{packer.Options{Environ: []string{"PKR_VAR_a=env"}}, "env"},
		{packer.Options{Environ: []string{"PKR_VAR_a=env"}, VarFiles: []string{vf}}, "file"},
		{packer.Options{Environ: []string{"PKR_VAR_a=env"}, VarFiles: []string{vf}, Vars: map[string]string{"a": "cli"}}, "cli"},
	} {
		r, err := packer.Import(tpl, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		var got any
		for _, v := range r.Variables {
			if v.Name == "a" {
				got = v.Default
			}
		}
		if got != c.want {
			t.Errorf("%+v: got %v, want %s", c.opts, got, c.want)
		}
	}
}
