#!/usr/bin/env bash
# Builds the Pulumi engine this project runs on, all of it upstream:
#   - the CLI from the Go module proxy (github.com/pulumi/pulumi/pkg/v3/cmd/pulumi,
#     through a generated wrapper module);
#   - the Node.js and Python language hosts and the command, tls and random providers
#     from the upstream source archives in ../shared/upstream (its build.sh and README:
#     provenance, licenses, versions), because the proxy refuses their modules.
# The providers are installed with `pulumi plugin install --file` into a PULUMI_HOME of
# the build's own; the user's ~/.pulumi is never read or written.
#
#   scripts/build-engine.sh              build if missing, print the bin dir
#   scripts/build-engine.sh --check      the same, then a real up/destroy smoke test
#   scripts/build-engine.sh --print-dir  print the bin dir if built (exit 1 if not); builds nothing
#   scripts/build-engine.sh --env        print the shell settings engine-env.sh applies; builds nothing
#   scripts/build-engine.sh --key        print the build directory for the current versions (built or not)
#
# Output: ${IPSEC_MESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipsec-mesh}/engine/<key>/{bin,home},
# <key> changing with any pinned version, the Go version or the upstream sources. A build
# is renamed into place with a stamp, so an interrupted one never looks complete and a
# second run only prints the path.
#
# Environment: IPSEC_MESH_BUILD_ENGINE=1 builds even when a pulumi is on PATH;
# IPSEC_MESH_UPSTREAM (default ../shared/upstream beside the repo) is where the archives are;
# IPSEC_MESH_GO_PARALLEL (default 2) is `go build -p`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_TAG=engine
# shellcheck source=scripts/build-cache-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/build-cache-lib.sh"
ENGINE_ROOT="$CACHE_BASE/engine"
UPSTREAM="${IPSEC_MESH_UPSTREAM:-$ROOT/../shared/upstream}"
GO_PARALLEL="${IPSEC_MESH_GO_PARALLEL:-2}"
# Where a pulumi of the user's own keeps the lab's plugins when no engine is built here.
AMBIENT_HOME="$CACHE_BASE/pulumi-home"


mode=build
for arg in "$@"; do
  case "$arg" in
    --check) mode=check ;;
    --print-dir) mode=print-dir ;;
    --env) mode="env" ;;
    --key) mode=key ;;
    -h | --help)
      sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown argument $arg (try --help)" ;;
  esac
done

# ---- versions: package.json is the single source ----
command -v node >/dev/null || die "node is not on PATH"
versions="$(node -e '
  const p = require(process.argv[1]);
  const d = { ...p.dependencies, ...p.devDependencies };
  const v = (n) => {
    const s = d[n];
    if (!/^\d+\.\d+\.\d+$/.test(s || "")) {
      console.error(`${n} must be pinned to an exact version in package.json, got ${s}`);
      process.exit(1);
    }
    return s;
  };
  console.log(["@pulumi/pulumi", "@pulumi/command", "@pulumi/tls", "@pulumi/random"].map(v).join(" "));
' "$ROOT/package.json")" || die "could not read the pinned versions from package.json"
read -r PULUMI_V COMMAND_V TLS_V RANDOM_V <<<"$versions"
PROVIDERS=("command $COMMAND_V" "tls $TLS_V" "random $RANDOM_V")

GO_V="$(go env GOVERSION 2>/dev/null || echo nogo)"
# The upstream inputs: the archives' names carry their versions, build.sh how they are built.
if [[ -d "$UPSTREAM" ]]; then
  SRC_HASH="$(cd "$UPSTREAM" && shopt -s nullglob && sha256sum build.sh pulumi-*.tar.gz terraform-provider-*.tar.gz 2>/dev/null | sha256sum | cut -c1-12)"
else
  SRC_HASH=no-upstream
fi
LAYOUT=3 # bump when the layout of a build changes
KEY="pulumi-$PULUMI_V-command-$COMMAND_V-tls-$TLS_V-random-$RANDOM_V-$(printf '%s %s %s' "$GO_V" "$SRC_HASH" "$LAYOUT" | sha256sum | cut -c1-10)"
DEST="$ENGINE_ROOT/$KEY"

if [[ "$mode" == key ]]; then
  printf '%s\n' "$DEST"
  exit 0
fi
if [[ "$mode" == print-dir ]]; then
  [[ -f "$DEST/.complete" ]] || exit 1
  printf '%s\n' "$DEST/bin"
  exit 0
fi

# --env: shell lines for engine-env.sh. With a built engine: its bin dir first on PATH,
# its own PULUMI_HOME and everything offline. Without one, a pulumi of the user's own
# gets a private PULUMI_HOME too and downloads the plugins there as it normally does.
if [[ "$mode" == env ]]; then
  q() { printf '%q' "$1"; }
  if [[ -f "$DEST/.complete" ]]; then
    case ":$PATH:" in
      *":$DEST/bin:"*) ;;
      *) printf 'export PATH=%s:"$PATH"\n' "$(q "$DEST/bin")" ;;
    esac
    printf 'export PULUMI_HOME=%s\n' "$(q "$DEST/home")"
    printf 'export IPSEC_MESH_ENGINE_BIN=%s\n' "$(q "$DEST/bin")"
    printf 'export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true\n'
  elif command -v pulumi >/dev/null; then
    log "no engine built here; using $(command -v pulumi), which fetches its own plugins into $AMBIENT_HOME"
    printf 'export PULUMI_HOME=%s\n' "$(q "$AMBIENT_HOME")"
  else
    log "no pulumi on PATH and no engine built: run scripts/build-engine.sh first"
    exit 1
  fi
  printf 'export PULUMI_SKIP_UPDATE_CHECK=true\n'
  # A default passphrase for local-backend stacks only when the user has none.
  if [[ -z "${PULUMI_CONFIG_PASSPHRASE+set}" && -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
    printf 'export PULUMI_CONFIG_PASSPHRASE=ipsec-mesh-local\n'
  fi
  exit 0
fi

# ---- a workstation with its own pulumi builds nothing unless asked ----
ambient="$(command -v pulumi || true)"
if [[ -n "$ambient" && "$ambient" != "$ENGINE_ROOT"/* && "${IPSEC_MESH_BUILD_ENGINE:-}" != 1 ]]; then
  log "using the pulumi on PATH: $ambient ($(pulumi version 2>/dev/null || echo 'version unknown'));"
  log "  it installs the upstream plugins itself, into $AMBIENT_HOME (IPSEC_MESH_BUILD_ENGINE=1 builds them here)"
  [[ "$mode" == check ]] || exit 0
  want=none
else
  want=full
fi

# gobuild LABEL OUT PKG LDFLAGS...: go build with a heartbeat, as the CLI link alone is
# minutes of silence.
gobuild() {
  local label="$1" out="$2" pkg="$3" t0=$SECONDS hb rc=0
  shift 3
  (while sleep 30; do log "  ... still building $label ($((SECONDS - t0))s)"; done) &
  hb=$!
  (cd "$MOD" && go build -p "$GO_PARALLEL" -trimpath -ldflags "-s -w $*" -o "$out" "$pkg") || rc=$?
  kill "$hb" 2>/dev/null || true
  wait "$hb" 2>/dev/null || true
  [[ $rc == 0 ]] || die "building $label failed (go output above)"
  log "  built $label in $((SECONDS - t0))s"
}

# A CLI built earlier for the same pulumi and Go versions is reused: it is the 4-5 minute part.
reusable_cli() {
  local d
  for d in "$ENGINE_ROOT"/pulumi-"$PULUMI_V"-*/; do
    d="${d%/}"
    [[ "$d" != "$DEST" && -x "$d/bin/pulumi" && -f "$d/.complete" ]] || continue
    grep -q " go=$GO_V " "$d/.complete" && { printf '%s\n' "$d/bin/pulumi"; return 0; }
  done
  return 1
}

# The archives must hold exactly the versions package.json pins: the SDKs ask for them.
check_upstream() {
  [[ -x "$UPSTREAM/build.sh" || -f "$UPSTREAM/build.sh" ]] ||
    die "no upstream plugin sources at $UPSTREAM (set IPSEC_MESH_UPSTREAM to the folder holding build.sh and the pulumi-*.tar.gz archives)"
  local name ver
  for pair in "${PROVIDERS[@]}"; do
    read -r name ver <<<"$pair"
    [[ -f "$UPSTREAM/pulumi-$name-v$ver.tar.gz" ]] ||
      die "package.json pins @pulumi/$name $ver but $UPSTREAM has $(cd "$UPSTREAM" && ls pulumi-"$name"-v*.tar.gz 2>/dev/null || echo 'no source for it'): pin the version the archive holds"
  done
  [[ -f "$UPSTREAM/pulumi-language-hosts-v$PULUMI_V.tar.gz" ]] ||
    die "package.json pins @pulumi/pulumi $PULUMI_V but $UPSTREAM has no pulumi-language-hosts-v$PULUMI_V.tar.gz"
}

build() {
  command -v go >/dev/null || die "go is not on PATH (Go >= 1.25 builds the Pulumi CLI $PULUMI_V and the plugins)"
  check_upstream
  mkdir -p "$ENGINE_ROOT"
  exec 9>"$ENGINE_ROOT/.lock"
  if ! flock -n 9; then
    log "another build holds $ENGINE_ROOT/.lock; waiting for it"
    flock 9
  fi
  [[ -f "$DEST/.complete" ]] && return 0 # the other build made it
  # Holding the lock, anything temporary here is left from a killed build.
  rm -rf "$ENGINE_ROOT"/.tmp-* "$DEST"
  TMP="$(mktemp -d "$ENGINE_ROOT/.tmp-XXXXXX")"
  trap 'rm -rf "$TMP"' EXIT
  MOD="$TMP/mod"
  mkdir -p "$TMP/bin" "$TMP/home" "$MOD"
  export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

  local old_cli
  old_cli="$(reusable_cli || true)"
  if [[ -n "$old_cli" ]]; then
    log "[1/3] reusing the pulumi CLI v$PULUMI_V from $old_cli"
    cp "$old_cli" "$TMP/bin/pulumi"
  else
    step "[1/3] pulumi CLI v$PULUMI_V from the Go module proxy (the long step: about 4-5 min cold on 2 cores)"
    (
      cd "$MOD"
      go mod init ipsec-mesh.local/engine >/dev/null 2>&1
      copy_module_replaces "github.com/pulumi/pulumi/pkg/v3@v$PULUMI_V" || exit 1
      if ! go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v$PULUMI_V" \
        "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_V" >"$TMP/go-get.log" 2>&1; then
        tail -n 30 "$TMP/go-get.log" >&2
        exit 1
      fi
    ) || die "could not resolve the modules (is the Go module proxy reachable?)"
    gobuild "the pulumi CLI" "$TMP/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
      "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_V"
  fi
  local got
  got="$("$TMP/bin/pulumi" version)"
  [[ "$got" == "v$PULUMI_V" ]] || die "the built pulumi reports version '$got', expected v$PULUMI_V"

  step "[2/3] upstream plugins from $UPSTREAM: language hosts nodejs+python $PULUMI_V, command $COMMAND_V, tls $TLS_V, random $RANDOM_V"
  local t0=$SECONDS
  # build.sh prints every go download; keep its output for a failure only.
  if ! bash "$UPSTREAM/build.sh" "$TMP/plugins" "$TMP/upstream-src" >"$TMP/upstream.log" 2>&1; then
    tail -n 40 "$TMP/upstream.log" >&2
    die "building the upstream plugins failed (last lines of ../shared/upstream/build.sh above)"
  fi
  log "  built in $((SECONDS - t0))s"
  rm -rf "$TMP/upstream-src"
  # Language hosts sit next to pulumi, where upstream releases put them (bundled plugins).
  local f
  for f in pulumi-language-nodejs pulumi-language-python pulumi-resource-pulumi-nodejs pulumi-resource-pulumi-python; do
    mv "$TMP/plugins/$f" "$TMP/bin/$f"
  done

  step "[3/3] providers into the build's own PULUMI_HOME (pulumi plugin install --file)"
  local name ver
  for pair in "${PROVIDERS[@]}"; do
    read -r name ver <<<"$pair"
    PULUMI_HOME="$TMP/home" PULUMI_SKIP_UPDATE_CHECK=true "$TMP/bin/pulumi" plugin install resource "$name" "$ver" \
      --file "$TMP/plugins/pulumi-resource-$name" --non-interactive >&2 ||
      die "pulumi plugin install resource $name $ver failed"
  done
  rm -rf "$TMP/plugins" "$MOD"
  printf 'pulumi=%s command=%s tls=%s random=%s go=%s built=%s seconds=%s\n' \
    "$PULUMI_V" "$COMMAND_V" "$TLS_V" "$RANDOM_V" "$GO_V" "$(date -u +%FT%TZ)" \
    "$((SECONDS - START))" >"$TMP/.complete"
  mv -T "$TMP" "$DEST"
  trap - EXIT
  verify_build "$DEST"
  # Older builds of the same pulumi version only differ in plugin sources: superseded.
  local d
  for d in "$ENGINE_ROOT"/pulumi-"$PULUMI_V"-*/; do
    d="${d%/}"
    [[ "$d" == "$DEST" ]] || rm -rf "$d"
  done
  step "done"
}

# Each plugin is the upstream build at the pinned version, where Pulumi looks for it.
verify_build() {
  local dest="$1" name ver bin listed
  listed="$(PULUMI_HOME="$dest/home" PULUMI_SKIP_UPDATE_CHECK=true "$dest/bin/pulumi" plugin ls --json)" ||
    die "pulumi plugin ls failed in $dest/home"
  for pair in "${PROVIDERS[@]}"; do
    read -r name ver <<<"$pair"
    printf '%s' "$listed" | node -e '
      let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
        const [name, ver] = process.argv.slice(1);
        const ok = JSON.parse(s).some((p) => p.kind === "resource" && p.name === name && p.version === ver);
        process.exit(ok ? 0 : 1);
      });' "$name" "$ver" || die "pulumi plugin ls in $dest/home does not list resource $name $ver"
    bin="$dest/home/plugins/resource-$name-v$ver/pulumi-resource-$name"
    [[ -x "$bin" ]] || die "$bin is missing"
  done
  grep -qa 'github.com/pulumi/pulumi-command/provider/pkg/provider/remote' "$dest/home/plugins/resource-command-v$COMMAND_V/pulumi-resource-command" ||
    die "pulumi-resource-command is not the upstream build (no pulumi-command/provider/pkg/provider/remote in it)"
  for name in nodejs python; do
    grep -qa "github.com/pulumi/pulumi/sdk/$name/cmd/pulumi-language-$name" "$dest/bin/pulumi-language-$name" ||
      die "pulumi-language-$name is not the upstream build"
  done
}

# ---- smoke check: real `pulumi up`s and `destroy` through every provider, offline ----
# One program, driven by stack config: a password, a P-384 key, `echo hi`, a CA and a host
# certificate checked with openssl, and a command whose create/update/delete each append
# to a log, so the lifecycle (update in place, replacement by triggers, delete) is
# asserted, plus a remote.Command over SSH to an sshd started on 127.0.0.1 for the check.
smoke_check() {
  local t
  t="$(mktemp -d "${TMPDIR:-/tmp}/ipsec-mesh-engine-check.XXXXXX")"
  # Subshell: the check's environment (PULUMI_HOME, backend) must not leak.
  (
    sshd_pid=""
    # shellcheck disable=SC2317 # called by the EXIT trap
    cleanup() {
      [[ -z "$sshd_pid" ]] || kill "$sshd_pid" 2>/dev/null || true
      rm -rf "$t"
    }
    trap cleanup EXIT
    set -euo pipefail
    mkdir -p "$t/state" "$t/prog" "$t/ssh"
    export PULUMI_BACKEND_URL="file://$t/state" PULUMI_CONFIG_PASSPHRASE=engine-check
    # shellcheck source=scripts/engine-env.sh
    . "$ROOT/scripts/engine-env.sh"
    cd "$t/prog"
    ln -s "$ROOT/node_modules" node_modules
    printf '%s\n' 'name: engine-check' 'runtime: nodejs' >Pulumi.yaml
    printf '%s\n' '{ "name": "engine-check", "type": "module", "main": "index.js" }' >package.json
    cp "$ROOT/scripts/engine-check-program.js" index.js

    log "check: pulumi $(pulumi version) from $(command -v pulumi), PULUMI_HOME=$PULUMI_HOME"
    pulumi stack init check --non-interactive >/dev/null 2>&1
    pulumi config set dir "$t" >/dev/null
    pulumi config set v 1 >/dev/null
    pulumi config set t 1 >/dev/null
    pulumi config set gen 1 >/dev/null

    if [[ -x /usr/sbin/sshd ]] && command -v ssh-keygen >/dev/null; then
      ssh-keygen -q -t ed25519 -N '' -f "$t/ssh/host" -C check-host
      ssh-keygen -q -t ed25519 -N '' -f "$t/ssh/client" -C check-client
      cp "$t/ssh/client.pub" "$t/ssh/authorized_keys"
      local_port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
      cat >"$t/ssh/sshd_config" <<EOF
Port $local_port
ListenAddress 127.0.0.1
HostKey $t/ssh/host
AuthorizedKeysFile $t/ssh/authorized_keys
PidFile $t/ssh/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AcceptEnv IPSEC_MESH_*
EOF
      [[ -d /run/sshd || $(id -u) != 0 ]] || mkdir -p /run/sshd
      /usr/sbin/sshd -D -e -f "$t/ssh/sshd_config" 2>"$t/ssh/sshd.log" &
      sshd_pid=$!
      pulumi config set sshPort "$local_port" >/dev/null
      pulumi config set sshUser "$(id -un)" >/dev/null
      pulumi config set hostKey "$(cat "$t/ssh/host.pub")" >/dev/null
      pulumi config set --secret sshKey -- "$(cat "$t/ssh/client")" >/dev/null
    else
      log "check: no sshd here: remote.Command NOT checked"
    fi

    up() { # label
      step "check: pulumi up ($1)"
      pulumi up --yes --non-interactive --skip-preview >"$t/up.log" 2>&1 || {
        cat "$t/up.log" >&2
        [[ -z "$sshd_pid" ]] || cat "$t/ssh/sshd.log" >&2
        die "check: pulumi up ($1) failed"
      }
      if grep -h 'warning' "$t/up.log" >&2; then die "check: pulumi up ($1) printed warnings (above)"; fi
    }
    out() { pulumi stack output --show-secrets "$1"; }
    expect_log() { # expected lines of the lifecycle log
      local expected got
      expected="$(printf '%s\n' "$@")"
      got="$(cat "$t/lifecycle.log")"
      [[ "$got" == "$expected" ]] || die "check: lifecycle log is
$got
expected
$expected"
    }

    up "create"
    [[ "$(out stdout)" == hi ]] || die "check: command stdout is not 'hi'"
    [[ "$(out curve)" == P384 ]] || die "check: key curve is not P384"
    out publicKey | grep -q 'BEGIN PUBLIC KEY' || die "check: no public key PEM"
    [[ "$(out passwordLength)" == 24 ]] || die "check: password length is not 24"
    out caPem >"$t/ca.pem"
    out certPem >"$t/cert.pem"
    openssl verify -x509_strict -purpose sslserver -CAfile "$t/ca.pem" "$t/cert.pem" >/dev/null ||
      die "check: openssl does not verify the host certificate against the CA"
    # Upstream tls sets Go's MaxPathLen without MaxPathLenZero: maxPathLength 0 encodes no
    # path-length constraint (docs/components.md), so only CA:TRUE is certain.
    openssl x509 -in "$t/ca.pem" -noout -text | grep -q 'CA:TRUE' || die "check: CA is not CA:TRUE"
    openssl x509 -in "$t/cert.pem" -noout -text | grep -qi 'IP Address:2001:db8:0:0:0:0:0:1' ||
      die "check: host certificate lacks its IPv6 SAN"
    openssl x509 -in "$t/cert.pem" -noout -text | grep -q 'IPSec End System' ||
      die "check: host certificate lacks the IPsec end-system usage"
    expect_log "create 1"
    [[ "$(out lifeStdout)" == out-1 ]] || die "check: lifecycle stdout is not out-1"
    if [[ -n "$sshd_pid" ]]; then
      [[ "$(out remoteStdout)" == env=accepted ]] || die "check: remote stdout is '$(out remoteStdout)'"
      [[ "$(cat "$t/remote.out")" == "payload over stdin" ]] || die "check: remote stdin did not arrive"
    fi
    first_password="$(out passwordValue)"

    step "check: second preview expects no changes"
    pulumi preview --expect-no-changes --non-interactive >"$t/preview.log" 2>&1 || {
      cat "$t/preview.log" >&2
      die "check: a second preview wanted changes"
    }

    pulumi config set v 2 >/dev/null
    up "an input changes: update in place"
    expect_log "create 1" "update 2 prev=out-1"
    [[ "$(out passwordValue)" == "$first_password" ]] || die "check: the password changed without its keepers changing"

    pulumi config set t 2 >/dev/null
    up "a trigger changes: replacement, create before delete"
    expect_log "create 1" "update 2 prev=out-1" "create 2" "delete prev=out-2"

    pulumi config set gen 2 >/dev/null
    up "keepers change: a new password"
    [[ "$(out passwordValue)" != "$first_password" ]] || die "check: changing keepers did not replace the password"

    step "check: pulumi destroy"
    pulumi destroy --yes --non-interactive --skip-preview >"$t/destroy.log" 2>&1 || {
      cat "$t/destroy.log" >&2
      die "check: pulumi destroy failed"
    }
    if grep -h 'warning' "$t/destroy.log" >&2; then die "check: pulumi destroy printed warnings (above)"; fi
    expect_log "create 1" "update 2 prev=out-1" "create 2" "delete prev=out-2" "delete prev=out-2"
    pulumi stack rm --yes --non-interactive >/dev/null 2>&1
  ) || exit 1
  step "check passed: up, outputs, certificates, update/replace/delete, no-change preview and destroy, offline"
}

if [[ "$want" == full ]]; then
  if [[ -f "$DEST/.complete" ]]; then
    log "up to date: $DEST/bin"
  else
    log "building into $DEST"
    build
  fi
fi
[[ "$mode" == check ]] && smoke_check
[[ "$want" == none ]] || printf '%s\n' "$DEST/bin"
