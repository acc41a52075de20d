variable "region" {
  type    = string
  default = "eu-west-1"
}

source "amazon-ebs" "base" {
  region        = var.region
  source_ami    = "ami-0123456789abcdef0"
  ssh_username  = "ubuntu"
  temporary_security_group_source_cidrs = ["10.0.0.0/8"]
}

build {
  source "source.amazon-ebs.base" {
    name          = "small"
    instance_type = "t3.small"
    ami_name      = "small-image"
  }
  source "source.amazon-ebs.base" {
    name          = "large"
    instance_type = "m5.large"
    ami_name      = "large-image"
  }

  provisioner "shell" {
    only   = ["amazon-ebs.small"]
    inline = ["echo small"]
  }
  provisioner "shell" {
    except      = ["amazon-ebs.small"]
    inline      = ["echo not small"]
    max_retries = 2
    timeout     = "5m"
  }
  provisioner "shell" {
    inline = ["echo default"]
    override = {
      large = {
        inline = ["echo large"]
      }
    }
  }
}
