#!/usr/bin/env bash
# Installs and builds everything the main job and the tests need, skipping what is there:
# Debian packages, npm packages, the Pulumi engine, the S3 server of the state-backend
# test and upstream strongSwan 6.0.6 for the lab's strongswan: '6' hosts (all built once
# into ~/.cache/ipsec-mesh), and the compiled library, stack program and lab (dist/).
set -euo pipefail
cd "$(dirname "$0")/.."
start=${IPSEC_MESH_START:-$(date +%s)}
step() { printf '\n==> [%4ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

step "system packages (strongSwan, OpenSSH, iproute2, tcpdump)"
bash scripts/install-system-deps.sh

step "npm packages"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  echo "node_modules is current"
fi

step "Pulumi engine (CLI, language host, providers) — built once into a cache outside the tree; the first build takes minutes"
bash scripts/build-engine.sh

step "S3 object store for the state-backend lab test (SeaweedFS, built once into the same cache; about 7 minutes the first time)"
bash scripts/build-s3-server.sh

step "strongSwan 6.0.6 for the lab's strongswan: '6' hosts (ML-KEM; built once into the same cache from ../shared/upstream, about 2 minutes the first time)"
bash scripts/build-strongswan6.sh

step "promtool for the shipped Prometheus rules (unpacked from Debian's prometheus package into the same cache, not installed)"
bash scripts/install-promtool.sh > /dev/null

step "build (tsc)"
npm run --silent build
