#!/usr/bin/env bash
# Puts the engine built by scripts/build-engine.sh first on PATH, points PULUMI_HOME at
# the build's own home (the upstream providers are installed there; the user's
# ~/.pulumi is never used) and switches Pulumi to offline operation: no update check,
# no plugin downloads, and a default PULUMI_CONFIG_PASSPHRASE when none is set.
# Builds nothing; fails when there is neither a built engine nor a pulumi.
#
#   . scripts/engine-env.sh            (bash: source it)
#   eval "$(scripts/engine-env.sh)"    (any POSIX shell)
__ipsec_mesh_engine_env() {
  local here
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  "$here/build-engine.sh" --env
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  # Sourced: apply the settings to the calling shell.
  __ipsec_mesh_engine_settings="$(__ipsec_mesh_engine_env)" || {
    unset -f __ipsec_mesh_engine_env
    unset __ipsec_mesh_engine_settings
    return 1
  }
  eval "$__ipsec_mesh_engine_settings"
  unset -f __ipsec_mesh_engine_env
  unset __ipsec_mesh_engine_settings
else
  # Executed: print the settings for eval.
  set -euo pipefail
  __ipsec_mesh_engine_env
fi
