#!/usr/bin/env bash
# The one test command (README: `npm test`; .ci/run calls it). It installs what the tests
# need on a fresh Debian machine, then runs every tier: unit (pure + Pulumi mocks) and lab
# (real strongSwan, sshd and the Pulumi engine in network namespaces; needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '\n==> [%4ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

export IPSEC_MESH_START=$start
bash scripts/prepare.sh
# shellcheck disable=SC1091
source scripts/engine-env.sh

step "type-check (tests included)"
npx tsc -p tsconfig.json --noEmit

step "engine smoke check (real pulumi up/destroy offline with the random, tls and command providers)"
bash scripts/build-engine.sh --check

step "tests"
results=$(mktemp)
set +e
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@"
rc=$?
set -e
# A plain closing line any CI can read; counts come from vitest's own JSON report.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' "$results" || echo "tests: no report written (vitest exit $rc)"
rm -f "$results"
step "done (exit $rc)"
exit "$rc"
