#!/usr/bin/env bash
# Builds the Pulumi engine this project runs on, offline, from the Go module
# proxy: the CLI (github.com/pulumi/pulumi/pkg/v3/cmd/pulumi through a
# generated wrapper module) and ipsec-mesh-engine, one multi-call binary that
# serves as the Node.js language host and the command/tls/random providers
# (their upstream modules are not served here: see docs/engine.md).
#
#   scripts/build-engine.sh              build if missing, print the bin dir
#   scripts/build-engine.sh --check      the same, then a real up/destroy smoke test
#   scripts/build-engine.sh --print-dir  print the bin dir if built (exit 1 if not); builds nothing
#   scripts/build-engine.sh --env        print the shell settings engine-env.sh applies; builds nothing
#   scripts/build-engine.sh --key        print the build directory for the current versions (built or not)
#   scripts/build-engine.sh --providers  with a pulumi of your own on PATH: build the providers anyway
#
# Output: ${IPSEC_MESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipsec-mesh}/engine/<key>/bin,
# <key> changing with any pinned version, the Go version or the stand-in
# sources. A build is renamed into place with a stamp, so an interrupted one
# never looks complete and a second run only prints the path.
#
# Environment: IPSEC_MESH_BUILD_ENGINE=1 builds even when a pulumi is on PATH;
# IPSEC_MESH_GO_PARALLEL (default 2) is `go build -p`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_BASE="${IPSEC_MESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipsec-mesh}"
ENGINE_ROOT="$CACHE_BASE/engine"
GO_PARALLEL="${IPSEC_MESH_GO_PARALLEL:-2}"
START=$SECONDS

log() { printf '[engine] %s\n' "$*" >&2; }
die() {
  printf '[engine] error: %s\n' "$*" >&2
  exit 1
}
step() { log "$1 (+$((SECONDS - START))s)"; }

mode=build
for arg in "$@"; do
  case "$arg" in
    --check) mode=check ;;
    --print-dir) mode=print-dir ;;
    --env) mode=env ;;
    --key) mode=key ;;
    --providers) IPSEC_MESH_BUILD_PROVIDERS=1 ;;
    -h | --help)
      sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
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

SRC_DIR="$ROOT/scripts/engine"
GO_V="$(go env GOVERSION 2>/dev/null || echo nogo)"
SRC_HASH="$(cat "$SRC_DIR"/*.go | sha256sum | cut -c1-12)"
LAYOUT=2 # bump when the layout of a build changes
KEY="pulumi-$PULUMI_V-command-$COMMAND_V-tls-$TLS_V-random-$RANDOM_V-$(printf '%s %s %s' "$GO_V" "$SRC_HASH" "$LAYOUT" | sha256sum | cut -c1-10)"
DEST="$ENGINE_ROOT/$KEY"

# Providers go into the plugin cache of the current PULUMI_HOME as links to
# the built binary: `pulumi plugin ls` lists them, the engine matches their
# exact versions, and no "using ... from $PATH" warning is printed. A real
# plugin already installed there is never replaced.
link_plugins() {
  local bin="$1" plugins="${PULUMI_HOME:-$HOME/.pulumi}/plugins" name ver dir
  for pair in "command $COMMAND_V" "tls $TLS_V" "random $RANDOM_V"; do
    read -r name ver <<<"$pair"
    dir="$plugins/resource-$name-v$ver"
    if [[ -e "$dir/pulumi-resource-$name" && ! -L "$dir/pulumi-resource-$name" ]]; then
      continue
    fi
    mkdir -p "$dir"
    ln -sfn "$bin/ipsec-mesh-engine" "$dir/pulumi-resource-$name"
  done
}

if [[ "$mode" == key ]]; then
  printf '%s\n' "$DEST"
  exit 0
fi
if [[ "$mode" == print-dir ]]; then
  [[ -f "$DEST/.complete" ]] || exit 1
  printf '%s\n' "$DEST/bin"
  exit 0
fi

# --env: shell lines for engine-env.sh. With a built engine: its bin dir first
# on PATH and everything offline. Without one, a pulumi of the user's own is
# left to download plugins as it normally does.
if [[ "$mode" == env ]]; then
  q() { printf '%q' "$1"; }
  if [[ -f "$DEST/.complete" ]]; then
    link_plugins "$DEST/bin"
    case ":$PATH:" in
      *":$DEST/bin:"*) ;;
      *) printf 'export PATH=%s:"$PATH"\n' "$(q "$DEST/bin")" ;;
    esac
    printf 'export IPSEC_MESH_ENGINE_BIN=%s\n' "$(q "$DEST/bin")"
    printf 'export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true\n'
  elif [[ -f "$DEST-providers/.complete" ]] && command -v pulumi >/dev/null; then
    link_plugins "$DEST-providers/bin"
    printf 'export IPSEC_MESH_ENGINE_BIN=%s\n' "$(q "$DEST-providers/bin")"
    printf 'export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true\n'
  elif command -v pulumi >/dev/null; then
    log "no engine built here; using $(command -v pulumi), which fetches its own plugins"
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
# want: full (CLI + plugins), plugins (providers only), none.
want=full
ambient="$(command -v pulumi || true)"
if [[ -n "$ambient" && "$ambient" != "$ENGINE_ROOT"/* && "${IPSEC_MESH_BUILD_ENGINE:-}" != 1 ]]; then
  log "using the pulumi on PATH: $ambient ($(pulumi version 2>/dev/null || echo 'version unknown'))"
  if [[ "${IPSEC_MESH_BUILD_PROVIDERS:-}" == 1 || "${PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION:-}" == true ]]; then
    want=plugins
    DEST="$DEST-providers"
  else
    want=none
    log "providers: pulumi downloads them itself (pass --providers to build them here)"
  fi
fi

# gobuild LABEL OUT PKG LDFLAGS...: go build with a heartbeat, as the CLI
# link alone is minutes of silence.
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

# A CLI built earlier for the same pulumi and Go versions (only the stand-in
# sources differed) is reused: it is the 4-5 minute part.
reusable_cli() {
  local d
  for d in "$ENGINE_ROOT"/pulumi-"$PULUMI_V"-*/; do
    d="${d%/}"
    [[ "$d" != "$DEST" && -x "$d/bin/pulumi" && -f "$d/.complete" ]] || continue
    grep -q " go=$GO_V " "$d/.complete" && { printf '%s\n' "$d/bin/pulumi"; return 0; }
  done
  return 1
}

build() {
  command -v go >/dev/null || die "go is not on PATH (Go >= 1.25 builds the Pulumi CLI $PULUMI_V)"
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
  mkdir -p "$TMP/bin" "$MOD/cmd/ipsec-mesh-engine"
  cp "$SRC_DIR"/*.go "$MOD/cmd/ipsec-mesh-engine/"
  export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

  local total=4 n=2 old_cli=""
  [[ "$want" == full ]] && old_cli="$(reusable_cli || true)"
  [[ "$want" == full && -z "$old_cli" ]] || total=3

  step "[1/$total] wrapper module requiring github.com/pulumi/pulumi/{pkg,sdk}/v3@v$PULUMI_V"
  (
    cd "$MOD"
    go mod init ipsec-mesh.local/engine >/dev/null 2>&1
    # pkg/v3's replace directives do not apply to a module that requires it:
    # copy those that point at another module (not the ../sdk directory).
    gomod="$(go mod download -json "github.com/pulumi/pulumi/pkg/v3@v$PULUMI_V" | node -e '
      let s = "";
      process.stdin.on("data", (d) => (s += d)).on("end", () => {
        const j = JSON.parse(s);
        if (j.Error) { console.error(j.Error); process.exit(1); }
        console.log(j.GoMod);
      });')" || exit 1
    go mod edit -json "$gomod" | node -e '
      let s = "";
      process.stdin.on("data", (d) => (s += d)).on("end", () => {
        for (const r of JSON.parse(s).Replace || []) {
          if (r.New.Version) console.log(`${r.Old.Path}${r.Old.Version ? "@" + r.Old.Version : ""}=${r.New.Path}@${r.New.Version}`);
        }
      });' | while read -r rep; do
      log "  replace $rep (copied from pkg/v3's go.mod)"
      go mod edit -replace "$rep"
    done
    if ! go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v$PULUMI_V" \
      "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_V" >"$TMP/go-get.log" 2>&1; then
      tail -n 30 "$TMP/go-get.log" >&2
      exit 1
    fi
  ) || die "could not resolve the modules (is the Go module proxy reachable?)"

  local ver_flag="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_V"
  if [[ -n "$old_cli" ]]; then
    log "  reusing the pulumi CLI v$PULUMI_V from $old_cli"
    cp "$old_cli" "$TMP/bin/pulumi"
  elif [[ "$want" == full ]]; then
    step "[$n/$total] pulumi CLI v$PULUMI_V (the long step: about 4-5 min cold on 2 cores)"
    gobuild "the pulumi CLI" "$TMP/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi "$ver_flag"
    n=$((n + 1))
  fi
  step "[$n/$total] ipsec-mesh-engine: nodejs language host, command $COMMAND_V, tls $TLS_V, random $RANDOM_V"
  gobuild "ipsec-mesh-engine" "$TMP/bin/ipsec-mesh-engine" ./cmd/ipsec-mesh-engine "$ver_flag" \
    "-X main.commandVersion=$COMMAND_V" "-X main.tlsVersion=$TLS_V" "-X main.randomVersion=$RANDOM_V"
  n=$((n + 1))

  step "[$n/$total] layout and self-test"
  # Only the language host is linked here, next to pulumi (where Pulumi looks
  # for it without a warning). The providers are not: on PATH they would win
  # over the plugin cache, with a warning on every run; link_plugins puts them
  # in the cache.
  ln -s ipsec-mesh-engine "$TMP/bin/pulumi-language-nodejs"
  # Dynamic providers (pulumi.dynamic.Resource) run through this script, as in upstream releases.
  printf '%s\n' '#!/bin/sh' 'exec node ./node_modules/@pulumi/pulumi/cmd/dynamic-provider "$@"' \
    >"$TMP/bin/pulumi-resource-pulumi-nodejs"
  chmod +x "$TMP/bin/pulumi-resource-pulumi-nodejs"
  if [[ "$want" == full ]]; then
    local got
    got="$("$TMP/bin/pulumi" version)"
    [[ "$got" == "v$PULUMI_V" ]] || die "the built pulumi reports version '$got', expected v$PULUMI_V"
  fi
  rm -rf "$MOD"
  printf 'pulumi=%s command=%s tls=%s random=%s go=%s want=%s built=%s seconds=%s\n' \
    "$PULUMI_V" "$COMMAND_V" "$TLS_V" "$RANDOM_V" "$GO_V" "$want" "$(date -u +%FT%TZ)" \
    "$((SECONDS - START))" >"$TMP/.complete"
  mv -T "$TMP" "$DEST"
  trap - EXIT
  # Older builds of the same pulumi version only differ in stand-in sources: superseded.
  local d
  for d in "$ENGINE_ROOT"/pulumi-"$PULUMI_V"-*/; do
    d="${d%/}"
    [[ "$d" == "$DEST" || "$d" == "$DEST-providers" || "$d" == "${DEST%-providers}" ]] || rm -rf "$d"
  done
  step "done"
}

# ---- smoke check: real `pulumi up`s and `destroy` through every provider, offline ----
# One program, driven by stack config: the brief's smoke resources (password,
# P-384 key, `echo hi`), a CA and a host certificate checked with openssl, and
# a command whose create/update/delete each append to a log, so the lifecycle
# (update in place, replacement by triggers, delete) is asserted, plus a
# remote.Command over SSH to an sshd started on 127.0.0.1 for the check.
smoke_check() {
  local t
  t="$(mktemp -d "${TMPDIR:-/tmp}/ipsec-mesh-engine-check.XXXXXX")"
  # Subshell: the check's environment (PULUMI_HOME, backend) must not leak.
  (
    sshd_pid=""
    cleanup() {
      [[ -z "$sshd_pid" ]] || kill "$sshd_pid" 2>/dev/null || true
      rm -rf "$t"
    }
    trap cleanup EXIT
    set -euo pipefail
    mkdir -p "$t/state" "$t/home" "$t/prog" "$t/ssh"
    export PULUMI_HOME="$t/home" PULUMI_BACKEND_URL="file://$t/state" PULUMI_CONFIG_PASSPHRASE=engine-check
    # shellcheck source=scripts/engine-env.sh
    . "$ROOT/scripts/engine-env.sh"
    cd "$t/prog"
    ln -s "$ROOT/node_modules" node_modules
    printf '%s\n' 'name: engine-check' 'runtime: nodejs' >Pulumi.yaml
    printf '%s\n' '{ "name": "engine-check", "type": "module", "main": "index.js" }' >package.json
    cat >index.js <<'EOF'
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import * as command from "@pulumi/command";

const cfg = new pulumi.Config();
const dir = cfg.require("dir");

// The brief's smoke resources.
const password = new random.RandomPassword("password", { length: 24, keepers: { gen: cfg.require("gen") } });
const key = new tls.PrivateKey("key", { algorithm: "ECDSA", ecdsaCurve: "P384" });
const hi = new command.local.Command("hi", { create: "echo hi" });
export const stdout = hi.stdout;
export const curve = key.ecdsaCurve;
export const publicKey = key.publicKeyPem;
export const passwordLength = password.result.apply((r) => r.length);
export const passwordValue = password.result;

// A CA (path length 0) and a host certificate for IPsec, as the mesh uses them.
const caKey = new tls.PrivateKey("ca-key", { algorithm: "ECDSA", ecdsaCurve: "P384" });
const ca = new tls.SelfSignedCert("ca", {
  privateKeyPem: caKey.privateKeyPem,
  subject: { commonName: "check CA", organization: "ipsec-mesh" },
  isCaCertificate: true,
  maxPathLength: 0,
  validityPeriodHours: 24,
  allowedUses: ["cert_signing", "crl_signing"],
});
const hostKey = new tls.PrivateKey("host-key", { algorithm: "ECDSA", ecdsaCurve: "P384" });
const csr = new tls.CertRequest("host-csr", {
  privateKeyPem: hostKey.privateKeyPem,
  subject: { commonName: "host1.example.net" },
  dnsNames: ["host1.example.net"],
  ipAddresses: ["198.51.100.1", "2001:db8::1"],
});
const cert = new tls.LocallySignedCert("host-cert", {
  certRequestPem: csr.certRequestPem,
  caPrivateKeyPem: caKey.privateKeyPem,
  caCertPem: ca.certPem,
  validityPeriodHours: 24,
  allowedUses: ["digital_signature", "key_encipherment", "ipsec_end_system", "server_auth"],
});
export const caPem = ca.certPem;
export const certPem = cert.certPem;

// Lifecycle: every script appends to a log the check reads.
const log = `${dir}/lifecycle.log`;
const life = new command.local.Command("life", {
  create: `echo "create $V" >> ${log}; echo "out-$V"`,
  update: `echo "update $V prev=$PULUMI_COMMAND_STDOUT" >> ${log}; echo "out-$V"`,
  delete: `echo "delete prev=$PULUMI_COMMAND_STDOUT" >> ${log}`,
  environment: { V: cfg.require("v") },
  triggers: [cfg.require("t")],
});
export const lifeStdout = life.stdout;

// remote.Command over SSH with a pinned host key, stdin and an accepted variable.
const sshPort = cfg.getNumber("sshPort");
let remoteOut;
if (sshPort !== undefined) {
  const remote = new command.remote.Command("remote", {
    connection: {
      host: "127.0.0.1",
      port: sshPort,
      user: cfg.require("sshUser"),
      privateKey: cfg.requireSecret("sshKey"),
      hostKey: cfg.require("hostKey"),
      dialErrorLimit: 3,
    },
    create: `umask 077; cat > ${dir}/remote.out; echo "env=$IPSEC_MESH_CHECK"`,
    stdin: "payload over stdin",
    environment: { IPSEC_MESH_CHECK: "accepted" },
    addPreviousOutputInEnv: false,
  });
  remoteOut = remote.stdout;
}
export const remoteStdout = remoteOut;
EOF

    log "check: pulumi $(pulumi version) from $(command -v pulumi)"
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
      local want got
      want="$(printf '%s\n' "$@")"
      got="$(cat "$t/lifecycle.log")"
      [[ "$got" == "$want" ]] || die "check: lifecycle log is
$got
expected
$want"
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
    openssl x509 -in "$t/ca.pem" -noout -text | grep -q 'CA:TRUE, pathlen:0' || die "check: CA is not CA:TRUE, pathlen:0"
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

if [[ "$want" != none ]]; then
  if [[ -f "$DEST/.complete" ]]; then
    log "up to date: $DEST/bin"
  else
    log "building into $DEST"
    build
  fi
  link_plugins "$DEST/bin"
fi
[[ "$mode" == check ]] && smoke_check
[[ "$want" == none ]] || printf '%s\n' "$DEST/bin"
