package packer_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipebuild/pipe/schema/packer"
)

// TestNullConditional checks that `c ? null : x` on a typed attribute is
// folded when c is known, takes the type the attribute needs otherwise,
// and is left out with a warning when it cannot be typed.
func TestNullConditional(t *testing.T) {
	src := `variable "pub" {
  type = string
}
variable "size" {
  type    = string
  default = ""
}
variable "flags" {
  type    = list(string)
  default = []
}
locals {
  off = true
}
source "amazon-ebs" "a" {
  region                      = "us-east-1"
  instance_type               = "t3.micro"
  source_ami                  = "ami-0123456789abcdef0"
  ssh_username                = "admin"
  ami_name                    = "c"
  associate_public_ip_address = var.pub == "" ? null : var.pub
  encrypt_boot                = local.off ? null : var.pub
  temporary_security_group_source_cidrs = ["10.0.0.0/8"]
  launch_block_device_mappings {
    device_name = "/dev/xvda"
    volume_size = var.size == "" ? null : var.size
    encrypted   = var.pub == "" ? null : var.flags
  }
}
build {
  sources = ["source.amazon-ebs.a"]
}
`
	f := filepath.Join(t.TempDir(), "c.pkr.hcl")
	if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := packer.Import(f, packer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	y := string(r.YAML())
	for _, want := range []string{
		`associate_public_ip_address: "${{ ((vars.pub == \"\") ? nil : (string(vars.pub) == \"true\")) }}"`,
		`volume_size: "${{ ((vars.size == \"\") ? nil : int(vars.size)) }}"`,
	} {
		if !strings.Contains(y, want) {
			t.Errorf("want %s in:\n%s", want, y)
		}
	}
	if strings.Contains(y, "encrypt_boot") {
		t.Errorf("encrypt_boot = null (folded) should be left out:\n%s", y)
	}
	if strings.Contains(y, "encrypted:") {
		t.Errorf("encrypted (a list where a bool is needed) should be left out:\n%s", y)
	}
	var ws []string
	for _, w := range r.Warnings {
		ws = append(ws, w.String())
	}
	if !strings.Contains(strings.Join(ws, "\n"), "c.pkr.hcl:27:5: warning: encrypted = `var.pub == \"\" ? null : var.flags`") {
		t.Errorf("want a positioned warning for encrypted, got:\n%s", strings.Join(ws, "\n"))
	}
	if err := loadYAML(t, r); err != nil {
		t.Errorf("pipeline.Load: %v\n%s", err, y)
	}
}
