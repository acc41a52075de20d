variable "region" {
  type    = string
  default = "eu-west-1"
}

variable "size" {
  type = number
}

locals {
  prefix = "demo-${var.region}"
  ts     = regex_replace(timestamp(), "[- TZ:]", "")
}

data "amazon-ami" "debian" {
  filters     = { name = "debian-12-amd64-*" }
  owners      = ["136693071363"]
  most_recent = true
}

source "amazon-ebs" "base" {
  region        = var.region
  instance_type = "t3.small"
  ami_name      = "${local.prefix}-${local.ts}"
  source_ami    = data.amazon-ami.debian.id
  ssh_username  = "admin"
  temporary_security_group_source_cidrs = ["10.0.0.0/8"]
  launch_block_device_mappings {
    device_name = "/dev/xvda"
    volume_size = var.size
  }
  spot_price = "auto"
}

build {
  name    = "web"
  sources = ["source.amazon-ebs.base"]

  provisioner "shell" {
    inline       = ["echo ${var.undeclared_thing}", "echo {{uuid}}"]
    pause_before = "10s"
  }
  provisioner "file" {
    content     = "hello"
    destination = "/tmp/hello"
  }
  provisioner "ansible" {
    playbook_file = "site.yml"
  }
  post-processor "manifest" {
    output = "m.json"
  }
}
