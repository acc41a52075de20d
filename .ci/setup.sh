#!/usr/bin/env bash
# Installs the Debian packages pipe's tests and examples use, if missing.
# Idempotent; needs root (or sudo) only when something is missing.
#   mmdebstrap       Debian base systems for `debootstrap:` sources
#   busybox-static   a 2 MB root filesystem for fast tests
#   skopeo, umoci    independent readers of the images pipe writes
#   docker-registry  a real registry on 127.0.0.1 for push/pull tests
#   openssh-server   a real sshd on 127.0.0.1: the SSH communicator and the
#                    fake EC2's instances (chrooted, with bash-static)
set -euo pipefail

# Extra package names given as arguments are installed too (the benchmarks
# add buildah, runc, pigz and zstd, their anchors).
packages=(ca-certificates curl git mmdebstrap busybox-static skopeo umoci docker-registry openssh-server bash-static tar gzip "$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's docker-registry package starts a service where there is an
  # init system; pipe starts its own instances (.ci/registry.sh, tests).
fi
