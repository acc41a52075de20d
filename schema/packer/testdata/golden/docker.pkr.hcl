variable "tag" {
  type    = string
  default = "latest"
}

source "docker" "app" {
  image  = "debian:12-slim"
  commit = true
  changes = [
    "ENV APP_ENV=production",
    "WORKDIR /app",
    "ENTRYPOINT [\"/app/run\"]",
  ]
}

build {
  sources = ["source.docker.app"]

  provisioner "shell" {
    inline = ["mkdir -p /app", "echo ok > /app/run"]
  }

  post-processors {
    post-processor "docker-tag" {
      repository = "registry.example.com/team/app"
      tags       = [var.tag]
    }
    post-processor "docker-push" {}
  }
}
