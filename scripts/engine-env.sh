#!/usr/bin/env bash
# Puts the engine built by scripts/build-engine.sh first on PATH and switches
# Pulumi to offline operation: no update check, no plugin downloads (the
# stand-in providers are linked into $PULUMI_HOME/plugins at their pinned
# versions), and a default PULUMI_CONFIG_PASSPHRASE when none is set.
# Builds nothing; fails when there is neither a built engine nor a pulumi.
#
#   . scripts/engine-env.sh            (bash: source it)
#   eval "$(scripts/engine-env.sh)"    (any POSIX shell)
#
# Set PULUMI_HOME before this if you use another one: the plugin links go there.
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
