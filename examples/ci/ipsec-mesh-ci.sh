#!/usr/bin/env bash
# What CI runs for an ipsec-mesh stack (the GitHub Actions workflow and the GitLab CI job
# beside this file call it; tests/lab/ci-example.test.ts runs it against the lab):
#
#   examples/ci/ipsec-mesh-ci.sh preview   on a pull/merge request: `pulumi preview --diff`,
#                                          written as Markdown for a PR comment / job summary.
#                                          Needs no SSH access to any host.
#   examples/ci/ipsec-mesh-ci.sh up        on merge: `pulumi up`, from a runner that reaches
#                                          the hosts over SSH.
#
# Environment:
#   IPSEC_MESH_STACK          the stack (required), e.g. prod
#   PULUMI_BACKEND_URL        the team's state backend (required), e.g.
#                             s3://bucket?endpoint=https://s3.example.net&s3ForcePathStyle=true&region=us-east-1
#   PULUMI_CONFIG_PASSPHRASE  decrypts the stack's secrets (required; a CI secret)
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   the object store's credentials (CI secrets)
#   IPSEC_MESH_PROJECT_DIR    the Pulumi project (default: the repository this script is in)
#   IPSEC_MESH_CONFIG_FILE    the stack's settings file (default: Pulumi.<stack>.yaml in the project)
#   IPSEC_MESH_REPORT         where preview writes its Markdown (default: ipsec-mesh-preview.md)
#   GITHUB_STEP_SUMMARY       set by GitHub Actions: the report is appended to the job summary
# Exit status: pulumi's. Secrets never reach the output: the review shows keys as fingerprints.
set -euo pipefail

mode=${1:-}
case $mode in
  preview | up) ;;
  *)
    echo "usage: $0 preview|up" >&2
    exit 2
    ;;
esac
: "${IPSEC_MESH_STACK:?set IPSEC_MESH_STACK to the stack name}"
: "${PULUMI_BACKEND_URL:?set PULUMI_BACKEND_URL to the team state backend (s3://…)}"
: "${PULUMI_CONFIG_PASSPHRASE:?set PULUMI_CONFIG_PASSPHRASE (a CI secret) to decrypt the stack secrets}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
project="${IPSEC_MESH_PROJECT_DIR:-$(cd "$here/../.." && pwd)}"
report="${IPSEC_MESH_REPORT:-ipsec-mesh-preview.md}"
config=()
if [ -n "${IPSEC_MESH_CONFIG_FILE:-}" ]; then config=(--config-file "$IPSEC_MESH_CONFIG_FILE"); fi
export PULUMI_SKIP_UPDATE_CHECK=true

cd "$project"
# The stack program runs compiled (Pulumi.yaml main: dist/stacks/index.js).
if [ ! -f dist/stacks/index.js ]; then npm run --silent build; fi

if [ "$mode" = up ]; then
  exec pulumi up --stack "$IPSEC_MESH_STACK" "${config[@]}" --yes --skip-preview --diff --color never --non-interactive
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
set +e
pulumi preview --stack "$IPSEC_MESH_STACK" "${config[@]}" --diff --color never --non-interactive > "$out" 2>&1
status=$?
set -e
{
  echo "### ipsec-mesh: \`pulumi preview --diff\` of stack \`$IPSEC_MESH_STACK\`"
  echo
  if [ "$status" -ne 0 ]; then echo "**The preview failed (exit $status).**"; echo; fi
  echo "Each host's \`…-review\` resource shows the lines its files change; keys appear only as fingerprints."
  echo
  echo '```diff'
  # Pulumi indents its +/- markers; a diff block wants them in the first column.
  sed -E 's/^( *)([-+~]) /\2\1 /' "$out"
  echo '```'
} > "$report"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cat "$report" >> "$GITHUB_STEP_SUMMARY"; fi
cat "$out"
exit "$status"
