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
if [ "${1:-up}" = "up" ] || [ "${1:0:2}" = "--" ]; then
  bash scripts/prepare.sh
  # `--backend vm` (qemu guests, docs/vm-lab.md): qemu/debootstrap and the guest image too.
  prev=
  for a in "$@"; do
    if { [ "$prev" = --backend ] && [ "$a" = vm ]; } || [ "$a" = --backend=vm ]; then
      printf '\n==> vm lab: packages and guest image (built once into a cache outside the tree)\n'
      bash scripts/install-system-deps.sh --vm
      bash scripts/build-guest-image.sh >/dev/null
    fi
    prev=$a
  done
fi
# shellcheck disable=SC1091
source scripts/engine-env.sh
exec node dist/lab/main-job.js "$@"
