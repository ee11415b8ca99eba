#!/usr/bin/env bash
# The main job (README: `npm run lab`): installs what is missing (Debian packages, npm
# packages, the Pulumi engine), builds, then brings up the local lab, runs `pulumi up` on it
# and prints the status of every pair. `npm run lab:down` tears it down. Needs root
# (network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "the lab creates network namespaces: run it as root (sudo npm run lab)" >&2
  exit 1
fi
start=$(date +%s)
step() { printf '\n==> [%4ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

if [ "${1:-up}" = "up" ] || [ "${1:-}" = "--hosts" ] || [ $# -eq 0 ]; then
  step "system packages"
  bash scripts/install-system-deps.sh
  step "npm packages"
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
  else
    echo "node_modules is current"
  fi
  step "Pulumi engine (built once into a cache outside the tree; the first build takes minutes)"
  bash scripts/build-engine.sh
  step "build"
  npm run --silent build
fi
# shellcheck disable=SC1091
source scripts/engine-env.sh
exec node dist/lab/main-job.js "$@"
