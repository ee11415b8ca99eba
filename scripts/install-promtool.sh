#!/usr/bin/env bash
# promtool, the checker for the shipped Prometheus rules (monitoring/prometheus), from Debian's
# `prometheus` package: downloaded and unpacked into the ipsec-mesh cache, never installed —
# installing the package would also install and start a Prometheus server and ~10 web
# libraries the tests do not need. The version is whatever apt offers (bookworm: 2.42.0).
#
#   scripts/install-promtool.sh              fetch when missing; print promtool's path last
#   scripts/install-promtool.sh --print-dir  print the directory of an existing one, else fail
#   scripts/install-promtool.sh --key        print where it would go
set -euo pipefail
BUILD_TAG=promtool
# shellcheck source=scripts/build-cache-lib.sh
source "$(dirname "$0")/build-cache-lib.sh"
parse_build_mode 9 "$@"

version=$(apt-cache policy prometheus 2>/dev/null | awk '/Candidate:/ { print $2 }')
[ -n "$version" ] && [ "$version" != "(none)" ] || die "apt knows no prometheus package (apt-get update?)"
dir="$CACHE_BASE/promtool/${version//[^A-Za-z0-9.+~-]/_}"

case "$mode" in
  key) echo "$dir"; exit 0 ;;
  print-dir)
    [ -x "$dir/promtool" ] || die "promtool $version is not fetched: run scripts/install-promtool.sh"
    echo "$dir"; exit 0 ;;
esac

if [ -x "$dir/promtool" ]; then
  log "promtool $version is present"
  echo "$dir/promtool"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
step "apt-get download prometheus=$version"
(cd "$tmp" && apt-get download -q "prometheus=$version" > /dev/null) || {
  apt-get update -q > /dev/null
  (cd "$tmp" && apt-get download -q "prometheus=$version" > /dev/null)
} || die "cannot download prometheus=$version"
dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
mkdir -p "$tmp/out"
cp "$tmp/root/usr/bin/promtool" "$tmp/out/promtool"
"$tmp/out/promtool" --version > /dev/null 2>&1 || die "the unpacked promtool does not run"
mkdir -p "$(dirname "$dir")"
rm -rf "$dir"
mv "$tmp/out" "$dir"
step "promtool $version in $dir"
echo "$dir/promtool"
