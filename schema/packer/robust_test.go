package packer_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipebuild/pipe/schema/packer"
)

// TestJSONShape: a legacy JSON template whose sections have the wrong
// type is a positioned error, never a panic nor a silent drop.
func TestJSONShape(t *testing.T) {
	dir := t.TempDir()
	docker := `{"type": "docker", "image": "u", "commit": true}`
	for _, c := range []struct{ name, src, want string }{
		{"notarray.json", `{"builders": "x"}`, "notarray.json:1:14: builders must be an array, not a string"},
		{"number.json", `{"builders": [1]}`, "number.json:1:15: builder must be an object, not a number"},
		{"notype.json", `{"builders": [{"image": "u"}]}`, "notype.json:1:15: builder has no type"},
		{"provtype.json", `{"builders": [` + docker + `], "provisioners": [{"inline": ["x"]}]}`, "provisioner has no type"},
		{"only.json", `{"builders": [` + docker + `], "provisioners": [{"type": "shell", "only": "docker"}]}`, "provisioner only must be an array of strings"},
		{"pp.json", `{"builders": [` + docker + `], "post-processors": [5]}`, "post-processor must be an object, not a number"},
		{"ppnotype.json", `{"builders": [` + docker + `], "post-processors": [[{"tag": "x"}]]}`, "post-processor has no type"},
		{"vars.json", `{"variables": {"a": [1]}}`, `variable "a" must be a string or null, not an array`},
		{"col.json", "{\n  \"builders\": [,]\n}", "col.json:2:16: JSON syntax error at byte offset 17: invalid character ','"},
		{"bom.json", "\ufeff{}", "bom.json:1:1: "},
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

// TestSensitiveEnvDefault: a sensitive variable whose default reads the
// environment does not get the environment's value written.
func TestSensitiveEnvDefault(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "t.pkr.hcl")
	src := "variable \"token\" {\n  default   = env(\"MY_TOKEN\")\n  sensitive = true\n}\n" +
		"variable \"user\" {\n  default = env(\"MY_USER\")\n}\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := packer.Import(p, packer.Options{Environ: []string{"MY_TOKEN=s3cr3t-token", "MY_USER=bob"}})
	if err != nil {
		t.Fatal(err)
	}
	y := string(r.YAML())
	if strings.Contains(y, "s3cr3t-token") {
		t.Errorf("sensitive environment value written:\n%s", y)
	}
	if !strings.Contains(y, "default: bob") {
		t.Errorf("non-sensitive env default lost:\n%s", y)
	}
}

// TestLocalCallError: a function that fails on known arguments is
// reported with its own error, not as a missing pipe equivalent.
func TestLocalCallError(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "t.pkr.hcl")
	src := "locals {\n  re = regex_replace(\"abc\", \"[\", \"x\")\n  f  = file(\"nope.txt\")\n}\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := packer.Import(p, packer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ws []string
	for _, w := range r.Warnings {
		ws = append(ws, w.String())
	}
	all := strings.Join(ws, "\n")
	for _, want := range []string{"t.pkr.hcl:2:3: warning: local \"re\"", "error parsing regexp", "t.pkr.hcl:3:3: warning: local \"f\"", "nope.txt"} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
}
