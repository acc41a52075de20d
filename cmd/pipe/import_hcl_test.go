package main

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/pipebuild/pipe/builders/amazon/amazontest"
)

// roundTripTemplate is an amazon-ebs template with an ami_filter (resolved
// by the fake EC2 when the key is computed), variables, a local and a
// provisioner reading a file next to the template.
const roundTripTemplate = `variable "region" {
  type    = string
  default = "us-east-1"
}
variable "size" {
  type    = number
  default = 8
}
locals {
  greeting = "hello from ${var.region}"
}
source "amazon-ebs" "base" {
  region        = var.region
  instance_type = "t3.small"
  ami_name      = "rt-demo"
  ssh_username  = "admin"
  source_ami_filter {
    filters     = { name = "debian-12-amd64-pipe-fake" }
    owners      = ["136693071363"]
    most_recent = true
  }
  temporary_security_group_source_cidrs = ["10.0.0.0/8"]
  launch_block_device_mappings {
    device_name = "/dev/xvda"
    volume_size = var.size
  }
}
build {
  name    = "web"
  sources = ["source.amazon-ebs.base"]
  provisioner "shell" {
    inline = ["echo ${local.greeting}"]
  }
  provisioner "file" {
    source      = "${path.root}/motd"
    destination = "/etc/motd"
  }
  provisioner "shell" {
    inline       = ["true"]
    pause_before = "1s"
  }
}
`

type planOut struct {
	Pipeline string `json:"pipeline"`
	Nodes    []struct {
		Node     string `json:"node"`
		Stage    string `json:"stage"`
		Builder  string `json:"builder"`
		ActionID string `json:"action_id"`
		Upstream string `json:"upstream"`
	} `json:"nodes"`
}

func runPipe(t *testing.T, args ...string) (string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRoot(&out, &errb)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		t.Fatalf("pipe %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), errb.String()
}

func planJSON(t *testing.T, args ...string) planOut {
	t.Helper()
	out, _ := runPipe(t, append([]string{"plan", "--json"}, args...)...)
	var p planOut
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("plan --json: %v\n%s", err, out)
	}
	return p
}

func fakeEC2(t *testing.T) {
	endpoint := amazontest.New(amazontest.Options{}).Start(t)
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_EC2": endpoint, "AWS_ACCESS_KEY_ID": "AKIDFAKE", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED": "true", "PIPE_CACHE_DIR": dir + "/cache", "HOME": dir, "XDG_CACHE_HOME": dir + "/.cache",
	} {
		t.Setenv(k, v)
	}
}

// TestImportHCLRoundTrip checks issue 5 item 5: `pipe plan` on the YAML
// `pipe import` writes and on a pipe.yaml with an `hcl:` stage of the same
// template gives the same nodes and the same action ids.
func TestImportHCLRoundTrip(t *testing.T) {
	fakeEC2(t)
	t.Chdir(t.TempDir())
	write(t, "t.pkr.hcl", roundTripTemplate)
	write(t, "motd", "welcome\n")
	write(t, "hcl.yaml", "name: t\nstages:\n  web:\n    hcl: t.pkr.hcl\n")

	_, warns := runPipe(t, "import", "t.pkr.hcl", "-o", "imported.yaml")
	if !strings.Contains(warns, "t.pkr.hcl:40:5: warning: pause_before") {
		t.Errorf("import warnings:\n%s", warns)
	}
	imported := planJSON(t, "-f", "imported.yaml")
	viaHCL := planJSON(t, "-f", "hcl.yaml")
	if len(imported.Nodes) == 0 || imported.Nodes[0].ActionID == "" {
		t.Fatalf("imported plan has no keyed nodes: %+v", imported)
	}
	if !reflect.DeepEqual(imported, viaHCL) {
		t.Errorf("plans differ:\nimported: %+v\nhcl:      %+v", imported, viaHCL)
	}
	if imported.Nodes[0].Node != "web@base" {
		t.Errorf("node = %q, want web@base", imported.Nodes[0].Node)
	}

	// vars: give Packer values as `pipe import --var` does: the same
	// change to both gives the same (new) key.
	runPipe(t, "import", "--var", "size=16", "t.pkr.hcl", "-o", "imported16.yaml")
	write(t, "hcl16.yaml", "name: t\nstages:\n  web:\n    hcl: t.pkr.hcl\n    vars: {size: 16}\n")
	i16, h16 := planJSON(t, "-f", "imported16.yaml"), planJSON(t, "-f", "hcl16.yaml")
	if !reflect.DeepEqual(i16, h16) {
		t.Errorf("plans with size=16 differ:\nimported: %+v\nhcl:      %+v", i16, h16)
	}
	if i16.Nodes[0].ActionID == imported.Nodes[0].ActionID {
		t.Error("size=16 did not change the action id")
	}

	// The file provisioner's source enters the key, through the template.
	write(t, "motd", "changed\n")
	if a, b := planJSON(t, "-f", "imported.yaml"), planJSON(t, "-f", "hcl.yaml"); !reflect.DeepEqual(a, b) || a.Nodes[0].ActionID == imported.Nodes[0].ActionID {
		t.Errorf("after editing motd: imported %+v, hcl %+v (before %s)", a, b, imported.Nodes[0].ActionID)
	}
}

// TestImportHCLFrom checks that `from:` on an hcl: stage runs the
// template's build on the upstream's builder of the same type, from the
// upstream's image.
func TestImportHCLFrom(t *testing.T) {
	fakeEC2(t)
	t.Chdir(t.TempDir())
	write(t, "t.pkr.hcl", roundTripTemplate)
	write(t, "motd", "welcome\n")
	write(t, "pipe.yaml", `name: t
builders:
  aws:
    type: amazon-ebs
    region: us-east-1
    instance_type: t3.micro
    ami_name: base
    ssh_username: admin
    temporary_security_group_source_cidrs: ["10.0.0.0/8"]
    source:
      ami_filter: { name: "debian-12-amd64-pipe-fake", owners: ["136693071363"], most_recent: true }
stages:
  base:
    provision:
      - shell: { inline: ["true"] }
  app:
    from: base
    hcl: t.pkr.hcl
`)
	out, errs := runPipe(t, "plan", "--json")
	var p planOut
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range p.Nodes {
		names = append(names, n.Node+"<"+n.Upstream)
	}
	if want := []string{"base@aws<", "app@aws<base@aws"}; !reflect.DeepEqual(names, want) {
		t.Errorf("nodes = %q, want %q", names, want)
	}
	if !strings.Contains(errs, "t.pkr.hcl:12:1: source source.amazon-ebs.base: the stage has from: \"base\"") {
		t.Errorf("stderr:\n%s", errs)
	}
}

func write(t *testing.T, name, s string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
