#!/bin/sh
# The host side of `npm run bench:dataplane` (bench/dataplane-run.ts): runs on each of the two
# inventory hosts, as root, copied into its run directory by the bench. Everything it adds to
# the host is written down in that directory first (undo lines, pid files), so `cleanup`
# removes exactly that and nothing else, whatever step failed.
#
#   dataplane-host.sh DIR check                          tools missing on this host, one a line
#   dataplane-host.sh DIR server PORT                    iperf3 server, daemonised, pid in DIR
#   dataplane-host.sh DIR client DEST PORT SECONDS ARGS  iperf3 --json client (ARGS: -P 4, -u …)
#   dataplane-host.sh DIR esp-keys ALG                   two random SAs' SPIs, reqid and keys (stdout)
#   dataplane-host.sh DIR esp-up ALG ROLE LOCAL REMOTE PORT     SA keys on stdin (never argv)
#   dataplane-host.sh DIR bypass-up ROLE LOCAL REMOTE PORT      cleartext policies for PORT
#   dataplane-host.sh DIR esp-bytes LOCAL REMOTE         bytes on this run's SAs: out, in
#   dataplane-host.sh DIR wg-up IFNAME ADDRESS LISTEN_PORT      prints the public key only
#   dataplane-host.sh DIR wg-peer IFNAME PUBKEY ENDPOINT ALLOWED
#   dataplane-host.sh DIR wg-bytes IFNAME                bytes through the link: rx, tx
#   dataplane-host.sh DIR variant-down                   undo the variant (policies, SAs, link, server)
#   dataplane-host.sh DIR cleanup                        variant-down, then remove DIR
#
# ROLE is client (sends to PORT) or server (listens on PORT). ALG: gcm (rfc4106(gcm(aes)),
# 256-bit key + 32-bit salt, ICV 128) or cbc-sha512 (cbc(aes) 256 + hmac(sha512), ICV 256);
# replay window 32 as charon installs them (strongSwan's default), no ESN.
set -eu

# Beats charon's policies (their priorities start in the hundreds of thousands): the bench's
# selectors (one port) win over a mesh's host-to-host policies while the bench runs.
PRIORITY=100

DIR=$1
CMD=$2
shift 2
case "$DIR" in
  /run/ipsec-mesh-bench-* | /tmp/ipsec-mesh-bench-*) ;;
  *)
    echo "dataplane-host.sh: refusing run directory $DIR" >&2
    exit 2
    ;;
esac
UNDO_XFRM="$DIR/xfrm.undo"
WG_LINKS="$DIR/wg.links"

die() {
  echo "$(hostname): $*" >&2
  exit 1
}

hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# Policies for one port: what this role sends (out) and receives (in), TCP and UDP.
# $1 = ROLE, $2 = LOCAL, $3 = REMOTE, $4 = PORT; $5/$6 end each out/in `policy add` (a tmpl, or
# nothing: cleartext allowed).
policy_lines() {
  role=$1 here=$2 peer=$3 port=$4 tmpl_out=$5 tmpl_in=$6
  if [ "$role" = client ]; then out_sel="dport $port" in_sel="sport $port"; else out_sel="sport $port" in_sel="dport $port"; fi
  # Numbers, not names: a minimal system may have no /etc/protocols.
  for proto in 6 17; do
    echo "xfrm policy add src $here dst $peer proto $proto $out_sel dir out priority $PRIORITY $tmpl_out"
    echo "xfrm policy delete src $here dst $peer proto $proto $out_sel dir out" >> "$UNDO_XFRM"
    echo "xfrm policy add src $peer dst $here proto $proto $in_sel dir in priority $PRIORITY $tmpl_in"
    echo "xfrm policy delete src $peer dst $here proto $proto $in_sel dir in" >> "$UNDO_XFRM"
  done
}

kill_recorded() {
  for f in "$DIR"/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    # Only an iperf3 this run started (a pid may have been reused since).
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = iperf3 ]; then
      kill "$pid" 2>/dev/null || true
      i=0
      while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
      done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}

variant_down() {
  kill_recorded
  if [ -s "$UNDO_XFRM" ]; then
    # -force: go on past lines whose object was never added (a failed setup).
    ip -force -batch "$UNDO_XFRM" > /dev/null 2>&1 || true
  fi
  rm -f "$UNDO_XFRM"
  if [ -s "$WG_LINKS" ]; then
    while read -r link; do
      ip link del dev "$link" 2> /dev/null || true
    done < "$WG_LINKS"
  fi
  rm -f "$WG_LINKS" "$DIR"/wg.key
}

case "$CMD" in
  check)
    for tool in ip iperf3 wg od; do
      command -v "$tool" > /dev/null 2>&1 || echo "$tool"
    done
    ;;
  server)
    port=$1
    rm -f "$DIR/server.pid"
    iperf3 --server --port "$port" --daemon --pidfile "$DIR/server.pid" > /dev/null
    i=0
    while [ ! -s "$DIR/server.pid" ]; do
      i=$((i + 1))
      [ $i -le 100 ] || die "iperf3 --server did not write its pid file"
      sleep 0.1
    done
    ;;
  client)
    dest=$1 port=$2 seconds=$3
    shift 3
    # In the background with its pid written down: cleanup stops it if the bench is interrupted.
    iperf3 --client "$dest" --port "$port" --time "$seconds" --json "$@" > "$DIR/client.json" 2> "$DIR/client.err" &
    echo $! > "$DIR/client.pid"
    rc=0
    wait $! || rc=$?
    rm -f "$DIR/client.pid"
    cat "$DIR/client.json"
    [ $rc -eq 0 ] || { cat "$DIR/client.err" >&2; exit "$rc"; }
    ;;
  esp-keys)
    case "$1" in
      gcm) bytes=36 ;;
      cbc-sha512) bytes=96 ;;
      *) die "unknown ESP algorithm $1" ;;
    esac
    # SPIs and reqid from a range charon does not allocate from (it counts up from 0xc…).
    echo "spi-ab 0x1b$(hex 3)"
    echo "spi-ba 0x1b$(hex 3)"
    echo "reqid $((0x7b000000 + 0x$(hex 2)))"
    echo "key-ab $(hex "$bytes")"
    echo "key-ba $(hex "$bytes")"
    ;;
  esp-up)
    alg=$1 role=$2 here=$3 peer=$4 port=$5
    spi_ab='' spi_ba='' reqid='' key_ab='' key_ba=''
    while read -r name value; do
      case "$name" in
        spi-ab) spi_ab=$value ;;
        spi-ba) spi_ba=$value ;;
        reqid) reqid=$value ;;
        key-ab) key_ab=$value ;;
        key-ba) key_ba=$value ;;
      esac
    done
    [ -n "$spi_ab" ] && [ -n "$spi_ba" ] && [ -n "$reqid" ] && [ -n "$key_ab" ] && [ -n "$key_ba" ] || die "esp-up: incomplete SA material on stdin"
    # ab: client → server. This host's outbound SA is ab when it is the client.
    if [ "$role" = client ]; then out_spi=$spi_ab out_key=$key_ab in_spi=$spi_ba in_key=$key_ba; else out_spi=$spi_ba out_key=$key_ba in_spi=$spi_ab in_key=$key_ab; fi
    transform() {
      if [ "$alg" = gcm ]; then
        echo "aead rfc4106(gcm(aes)) 0x$1 128"
      else
        echo "enc cbc(aes) 0x$(echo "$1" | cut -c1-64) auth-trunc hmac(sha512) 0x$(echo "$1" | cut -c65-192) 256"
      fi
    }
    echo "$here $peer $out_spi" > "$DIR/esp.sas"
    echo "$peer $here $in_spi" >> "$DIR/esp.sas"
    echo "xfrm state delete src $here dst $peer proto esp spi $out_spi" >> "$UNDO_XFRM"
    echo "xfrm state delete src $peer dst $here proto esp spi $in_spi" >> "$UNDO_XFRM"
    tmpl="tmpl src $here dst $peer proto esp reqid $reqid mode transport"
    tmpl_in="tmpl src $peer dst $here proto esp reqid $reqid mode transport"
    # The keys go to ip on stdin (a batch), never on a command line.
    {
      echo "xfrm state add src $here dst $peer proto esp spi $out_spi reqid $reqid mode transport replay-window 32 $(transform "$out_key")"
      echo "xfrm state add src $peer dst $here proto esp spi $in_spi reqid $reqid mode transport replay-window 32 $(transform "$in_key")"
      policy_lines "$role" "$here" "$peer" "$port" "$tmpl" "$tmpl_in"
    } | ip -batch - > /dev/null 2> "$DIR/ip.err" || die "ip xfrm: $(grep -v '0x' "$DIR/ip.err" | head -n 3)"
    rm -f "$DIR/ip.err"
    ;;
  bypass-up)
    role=$1 here=$2 peer=$3 port=$4
    # Cleartext even where a mesh would encrypt the pair: policies without a template.
    policy_lines "$role" "$here" "$peer" "$port" "" "" | ip -batch - > /dev/null || die "ip xfrm policy add (bypass) failed"
    ;;
  esp-bytes)
    here=$1 peer=$2
    # `ip xfrm state get` prints the key too: only the byte counter is kept.
    sa_bytes() {
      ip -s xfrm state get src "$1" dst "$2" proto esp spi "$(awk -v s="$1" '$1 == s { print $3 }' "$DIR/esp.sas")" |
        awk '/lifetime current:/ { getline; sub(/\(bytes\).*/, "", $1); print $1; exit }'
    }
    echo "$(sa_bytes "$here" "$peer") $(sa_bytes "$peer" "$here")"
    ;;
  wg-up)
    link=$1 address=$2 listen=$3
    ip -o addr show | grep -qF " ${address%/*}/" && die "address ${address%/*} is already in use here: pick another"
    ip link show dev "$link" > /dev/null 2>&1 && die "a link named $link exists already"
    echo "$link" >> "$WG_LINKS"
    (umask 077 && wg genkey > "$DIR/wg.key")
    ip link add dev "$link" type wireguard || die "ip link add type wireguard failed (no wireguard module?)"
    wg set "$link" private-key "$DIR/wg.key" listen-port "$listen"
    ip address add "$address" dev "$link"
    ip link set dev "$link" up
    # Only the public key leaves the host.
    wg pubkey < "$DIR/wg.key"
    rm -f "$DIR/wg.key"
    ;;
  wg-peer)
    link=$1 pubkey=$2 endpoint=$3 allowed=$4
    wg set "$link" peer "$pubkey" endpoint "$endpoint" allowed-ips "$allowed"
    ;;
  wg-bytes)
    wg show "$1" transfer | awk '{ rx += $2; tx += $3 } END { print rx + 0, tx + 0 }'
    ;;
  variant-down)
    variant_down
    ;;
  cleanup)
    variant_down
    rm -rf "$DIR"
    ;;
  *)
    die "unknown command $CMD"
    ;;
esac
