#!/usr/bin/env bash
# Starts Debian's docker-registry on 127.0.0.1:${PIPE_REGISTRY_PORT:-5000} in
# the background if nothing answers there yet (there is no init system to do
# it). Its data and PID file live in ${PIPE_REGISTRY_DIR:-/var/lib/pipe-registry}.
set -euo pipefail
port=${PIPE_REGISTRY_PORT:-5000}
dir=${PIPE_REGISTRY_DIR:-/var/lib/pipe-registry}

if curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then
  exit 0
fi
mkdir -p "$dir/data"
cat > "$dir/config.yml" <<YAML
version: 0.1
log: { level: warn }
storage: { filesystem: { rootdirectory: $dir/data }, delete: { enabled: true } }
http: { addr: 127.0.0.1:$port }
YAML
nohup docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
echo $! > "$dir/registry.pid"
for _ in $(seq 50); do
  curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && { echo "registry: listening on 127.0.0.1:$port (pid $(cat "$dir/registry.pid"))"; exit 0; }
  sleep 0.1
done
echo "registry: docker-registry did not start; see $dir/registry.log" >&2
exit 1
