#!/usr/bin/env bash
# Builds what the vm lab boots (lab/vm, docs/vm-lab.md): Debian's own kernel (with ESP),
# a busybox initramfs carrying the modules the guests need, and a Debian bookworm root
# filesystem with OpenSSH and strongSwan. Nothing is installed on this machine but the
# build tools (qemu-system-x86, debootstrap: scripts/install-system-deps.sh --vm).
#
#   scripts/build-guest-image.sh              build what is missing, print the image dir
#   scripts/build-guest-image.sh --print-dir  print the image dir if built (exit 1 if not); builds nothing
#   scripts/build-guest-image.sh --key        print the image dir for the current inputs (built or not)
#
# Output: ${IPSEC_MESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipsec-mesh}/guest/<key>/ with
#   vmlinux      the kernel, decompressed from the package's vmlinuz (boots about 2x faster under TCG)
#   initrd.img   busybox + modules + lab/vm/guest/initramfs/init
#   rootfs.ext4  debootstrap bookworm minbase + openssh-server + strongSwan (guests use it
#                read-only: qemu keeps each guest's writes in a throw-away snapshot)
#   manifest.json  versions and sizes
# Each part lives in its own cache directory keyed by its inputs (package versions from apt,
# the module list, the init script, the text of the shell function that builds it), so an
# edit rebuilds only what it touches; <key> combines the three. Parts are built in a temp
# directory and renamed into place: an interrupted build never looks complete.
#
# Needs root (debootstrap, apt-get update when the package lists are missing). Reaches the
# Debian mirror this machine's apt uses (/etc/apt/sources.list*).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_TAG=guest
# shellcheck source=scripts/build-cache-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/build-cache-lib.sh"
GUEST_ROOT="$CACHE_BASE/guest"
GUEST_DIR="$ROOT/lab/vm/guest"
SUITE=bookworm


parse_build_mode 25 "$@"

# The root filesystem's packages (Recommends are not installed): what docs/delivery.md asks
# of a mesh host, plus busybox-static (the guest's init), procps (sysctl, which ipsec-mesh
# applies its sysctl file with) and systemd (the optional init, `imlab.init=systemd`).
ROOTFS_PACKAGES=(
  openssh-server
  strongswan-swanctl
  strongswan-charon
  libstrongswan-standard-plugins # openssl + gcm: aes256gcm16 / ecp384
  libcharon-extra-plugins        # the same plugin set as the namespace lab's hosts
  strongswan-pki                 # certificate mode: the host key and CSR are made on the host
  iproute2
  procps
  busybox-static
  nftables                       # the require backstop ipsec-mesh loads with nft -f
  # PID 1 on guests booted with init 'systemd' (the product's units, Restart=, journald);
  # journalctl and systemd-cat are in it. No systemd-sysv: it would own /sbin/init; the
  # initramfs execs the init the kernel line names (busybox by default).
  systemd
  # npm run bench:dataplane's guest-lab test (tests/lab/vm-dataplane.test.ts): what the
  # bench asks of an inventory host besides iproute2.
  iperf3
  wireguard-tools
)

# Modules loaded at boot, in this order (modprobe adds their dependencies). Built-in ones
# (modules.builtin) are skipped. Without drbg and jitterentropy_rng the kernel cannot
# instantiate its RNG for ESP (seqiv/echainiv need it) and `ip xfrm state add` fails;
# jitterentropy_rng needs sha3-256 at init, a runtime lookup no modules.dep shows.
MODULES=(
  virtio_pci virtio_blk virtio_net
  crc32c_generic ext4
  xfrm_user esp4 esp6
  nf_tables
  authenc gcm ghash_generic aesni_intel ctr seqiv echainiv cbc sha256_generic sha512_generic
  chacha20poly1305
  wireguard # bench:dataplane's WireGuard variant (no modules on the root disk: load at boot)
  sha3_generic jitterentropy_rng drbg
)

sha() { sha256sum | cut -c1-"${1:-12}"; }

# ---- inputs ---------------------------------------------------------------------------
need_lists() {
  if ! apt-cache show --no-all-versions linux-image-amd64 >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || die "apt has no package lists; run as root (apt-get update)"
    step "apt-get update (no package lists yet)"
    apt-get -q update >&2 || die "apt-get update failed"
  fi
}

# One apt-cache call for every package (each call reads the whole cache: about 0.5 s).
declare -A CANDIDATE=()
load_candidates() {
  local pkg ver
  while read -r pkg ver; do CANDIDATE[$pkg]=$ver; done < <(
    apt-cache policy "$@" 2>/dev/null | awk '/^[^ ].*:$/ { p = substr($1, 1, length($1) - 1) } /Candidate:/ { print p, $2 }'
  )
}
candidate() { echo "${CANDIDATE[$1]:-}"; }

mirror() {
  # The first deb URI of this machine's apt sources for $SUITE (deb822 or one-line format).
  local uri
  uri=$(awk -v s="$SUITE" '
    /^URIs:/ { u = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) { print u; exit } }
  ' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  if [ -z "$uri" ]; then
    uri=$(awk -v s="$SUITE" '$1 == "deb" && $0 ~ (" " s " ") { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

need_lists
KERNEL_PKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$KERNEL_PKG" ] || die "cannot resolve linux-image-amd64 to a kernel package (apt-cache depends linux-image-amd64)"
load_candidates "$KERNEL_PKG" busybox-static "${ROOTFS_PACKAGES[@]}"
KERNEL_VER=$(candidate "$KERNEL_PKG")
BUSYBOX_VER=$(candidate busybox-static)
[ -n "$KERNEL_VER" ] && [ "$KERNEL_VER" != "(none)" ] || die "no candidate version of $KERNEL_PKG"
[ -n "$BUSYBOX_VER" ] && [ "$BUSYBOX_VER" != "(none)" ] || die "no candidate version of busybox-static"
MIRROR=$(mirror)
ROOTFS_VERSIONS=$(for p in "${ROOTFS_PACKAGES[@]}"; do printf '%s=%s ' "$p" "$(candidate "$p")"; done)

# Parts: each key covers the inputs and the code that builds it (declare -f prints the function).
kernel_key() { printf '%s %s %s' "$KERNEL_PKG" "$KERNEL_VER" "$(declare -f build_kernel)" | sha; }
initrd_key() {
  { printf '%s %s %s ' "$(kernel_key)" "$BUSYBOX_VER" "${MODULES[*]}"; declare -f build_initrd; cat "$GUEST_DIR/initramfs/init"; } | sha
}
rootfs_key() { printf '%s %s %s %s' "$SUITE" "$MIRROR" "$ROOTFS_VERSIONS" "$(declare -f build_rootfs)" | sha; }

# ---- parts ------------------------------------------------------------------------------
# $1: output dir (empty, same filesystem as the cache). Runs in a scratch dir ($WORK).
build_kernel() {
  local out=$1 vmlinuz off
  (cd "$WORK" && apt-get -q -o APT::Sandbox::User=root download "$KERNEL_PKG=$KERNEL_VER" >&2) ||
    die "apt-get download $KERNEL_PKG=$KERNEL_VER failed"
  dpkg-deb -x "$WORK"/"$KERNEL_PKG"_*.deb "$WORK/kernel"
  vmlinuz=$(ls "$WORK"/kernel/boot/vmlinuz-*)
  # bzImage = setup code + an xz stream (CONFIG_KERNEL_XZ): decompress it. The ELF boots
  # through its PVH entry point, skipping the in-guest decompression (slow under TCG).
  off=$(LC_ALL=C grep -obUaP '\xFD7zXZ\x00' "$vmlinuz" | head -n 1 | cut -d: -f1)
  [ -n "$off" ] || die "no xz stream in $vmlinuz"
  # (xz stops at the end of its stream: no pipe, or tail's SIGPIPE would fail the build)
  xz -dc --single-stream < <(tail -c +$((off + 1)) "$vmlinuz") > "$out/vmlinux" || die "cannot decompress $vmlinuz"
  [ "$(head -c 4 "$out/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ] || die "$vmlinuz did not decompress to an ELF kernel"
  # The package itself stays (70 MB, not its 390 MB of modules): the initramfs takes its modules from it.
  mv "$WORK"/"$KERNEL_PKG"_*.deb "$out/$KERNEL_PKG.deb"
  cp "$WORK"/kernel/boot/config-* "$out/"
  basename "$vmlinuz" | sed 's/^vmlinuz-//' > "$out/kernel-release"
}

build_initrd() {
  local out=$1 kdir=$2 release ir bb m path
  release=$(cat "$kdir/kernel-release")
  (cd "$WORK" && apt-get -q -o APT::Sandbox::User=root download "busybox-static=$BUSYBOX_VER" >&2) ||
    die "apt-get download busybox-static failed"
  dpkg-deb -x "$WORK"/busybox-static_*.deb "$WORK/busybox"
  bb="$WORK/busybox/bin/busybox"
  # The package ships no modules.dep (its postinst runs depmod): make one with busybox.
  dpkg-deb -x "$kdir/$KERNEL_PKG.deb" "$WORK/kroot"
  "$bb" depmod -b "$WORK/kroot" "$release"
  ir="$WORK/initramfs"
  mkdir -p "$ir"/{bin,sbin,dev,proc,sys,etc,newroot} "$ir/lib/modules/$release"
  cp "$bb" "$ir/bin/busybox"
  for a in sh mount umount modprobe insmod tar switch_root mkdir sleep cat echo poweroff; do ln -s busybox "$ir/bin/$a"; done
  ln -s ../bin/busybox "$ir/sbin/modprobe" # the kernel's own module requests (/proc/sys/kernel/modprobe)
  : > "$ir/etc/imlab-modules"
  for m in "${MODULES[@]}"; do
    if grep -qE "/${m//_/[-_]}\.ko\$" "$WORK/kroot/lib/modules/$release/modules.builtin"; then
      log "  module $m is built in"
      continue
    fi
    path=$(grep -E "/${m//_/[-_]}\.ko:" "$WORK/kroot/lib/modules/$release/modules.dep" | head -n 1) ||
      die "module $m is not in $KERNEL_PKG"
    echo "$m" >> "$ir/etc/imlab-modules"
    # The module and everything it depends on (modules.dep lists the whole closure).
    for f in ${path/:/}; do
      mkdir -p "$ir/lib/modules/$release/$(dirname "$f")"
      cp "$WORK/kroot/lib/modules/$release/$f" "$ir/lib/modules/$release/$f"
    done
  done
  cp "$WORK/kroot/lib/modules/$release/modules.builtin" "$ir/lib/modules/$release/"
  "$bb" depmod -b "$ir" "$release"
  install -m 0755 "$GUEST_DIR/initramfs/init" "$ir/init"
  (cd "$ir" && find . | sort | "$bb" cpio -o -H newc 2>/dev/null | gzip -1 > "$out/initrd.img")
  cp "$ir/etc/imlab-modules" "$out/modules.list"
  echo "$BUSYBOX_VER" > "$out/busybox-version"
}

build_rootfs() {
  local out=$1 root="$WORK/rootfs" include size_mb
  include=$(IFS=,; echo "${ROOTFS_PACKAGES[*]}")
  log "  debootstrap --variant=minbase $SUITE from $MIRROR (+ $include)"
  # Progress: one line per debootstrap phase (its full log is shown only on failure).
  debootstrap --variant=minbase --include="$include" "$SUITE" "$root" "$MIRROR" 2>&1 |
    tee "$WORK/debootstrap.log" |
    awk '/^I: / && !seen[$2]++ { printf "[guest]   debootstrap: %s\n", substr($0, 4); fflush() }' >&2 ||
    {
      tail -n 30 "$WORK/debootstrap.log" >&2
      die "debootstrap failed (log above)"
    }
  # Every guest gets its own host key from the lab (the seed); none may be shared.
  rm -f "$root"/etc/ssh/ssh_host_*
  # Not needed on a lab guest that never runs apt: docs, translations, package caches.
  rm -rf "$root"/usr/share/{doc,man,info,locale}/* "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
  echo "imlab-guest" > "$root/etc/hostname"
  printf '# lab guest: the root disk is a throw-away qemu snapshot\n' > "$root/etc/fstab"
  size_mb=$(( $(du -sm "$root" | cut -f1) * 13 / 10 + 64 ))
  mke2fs -q -t ext4 -O ^has_journal -L imlab-root -d "$root" -F "$out/rootfs.ext4" "${size_mb}M" > /dev/null ||
    die "mke2fs -d failed"
  printf '%s\n' "${ROOTFS_PACKAGES[@]}" > "$out/packages.list"
  chroot "$root" dpkg-query -W -f '${Package} ${Version}\n' > "$out/dpkg.list"
  rm -rf "$root"
}

# Builds part $1 (kernel|initrd|rootfs) unless its directory exists; prints the directory.
part() {
  local name=$1 key dest tmp t0=$SECONDS
  key="$name-$("${name}_key")"
  dest="$GUEST_ROOT/parts/$key"
  if [ -f "$dest/.complete" ]; then
    echo "$dest"
    return
  fi
  [ "$mode" = build ] || return 1
  [ "$(id -u)" -eq 0 ] || die "building the guest $name needs root"
  step "building $name ($key)"
  mkdir -p "$GUEST_ROOT/parts"
  tmp=$(mktemp -d "$GUEST_ROOT/parts/.tmp-$name-XXXXXX")
  WORK="$tmp/work"
  mkdir -p "$WORK" "$tmp/out"
  # shellcheck disable=SC2064 # expand now: tmp is local
  trap "rm -rf '$tmp'" EXIT
  # stdout carries only the part's directory: every tool's output goes to stderr.
  case "$name" in
    kernel) build_kernel "$tmp/out" >&2 ;;
    initrd) build_initrd "$tmp/out" "$(part kernel)" >&2 ;;
    rootfs) build_rootfs "$tmp/out" >&2 ;;
  esac
  rm -rf "$WORK"
  touch "$tmp/out/.complete"
  rm -rf "$dest"
  mv "$tmp/out" "$dest"
  rm -rf "$tmp"
  trap - EXIT
  step "built $name in $((SECONDS - t0))s: $(du -sh "$dest" | cut -f1)"
  echo "$dest"
}

KEY="$KERNEL_VER-$(printf '%s %s %s' "$(kernel_key)" "$(initrd_key)" "$(rootfs_key)" | sha 16)"
DEST="$GUEST_ROOT/$KEY"
case "$mode" in
  key)
    echo "$DEST"
    exit 0
    ;;
  print-dir)
    [ -f "$DEST/manifest.json" ] || exit 1
    echo "$DEST"
    exit 0
    ;;
esac

if [ -f "$DEST/manifest.json" ]; then
  log "guest image is current: $DEST"
  echo "$DEST"
  exit 0
fi
# The build's tools (and qemu, which the lab needs anyway): the optional --vm group.
for tool in qemu-system-x86_64 debootstrap mke2fs dpkg-deb xz; do
  if ! command -v "$tool" >/dev/null; then
    step "installing the vm lab's packages ($tool is missing)"
    bash "$ROOT/scripts/install-system-deps.sh" --vm >&2 || die "scripts/install-system-deps.sh --vm failed"
    break
  fi
done
step "guest image $KEY: kernel $KERNEL_PKG $KERNEL_VER, busybox $BUSYBOX_VER, $SUITE from $MIRROR"
KDIR=$(part kernel)
IDIR=$(part initrd)
RDIR=$(part rootfs)
RELEASE=$(cat "$KDIR/kernel-release")
tmp=$(mktemp -d "$GUEST_ROOT/.tmp-image-XXXXXX")
ln -s "$KDIR/vmlinux" "$tmp/vmlinux"
ln -s "$IDIR/initrd.img" "$tmp/initrd.img"
ln -s "$RDIR/rootfs.ext4" "$tmp/rootfs.ext4"
cat > "$tmp/manifest.json" <<JSON
{
  "key": "$KEY",
  "kernelPackage": "$KERNEL_PKG",
  "kernelVersion": "$KERNEL_VER",
  "kernelRelease": "$RELEASE",
  "busyboxVersion": "$BUSYBOX_VER",
  "suite": "$SUITE",
  "mirror": "$MIRROR",
  "modules": "$(tr '\n' ' ' < "$IDIR/modules.list" | sed 's/ $//')",
  "rootfsPackages": "${ROOTFS_PACKAGES[*]}",
  "sizes": { "vmlinux": $(stat -c %s "$KDIR/vmlinux"), "initrd": $(stat -c %s "$IDIR/initrd.img"), "rootfs": $(stat -c %s "$RDIR/rootfs.ext4"), "rootfsUsed": $(du -B1 "$RDIR/rootfs.ext4" | cut -f1) }
}
JSON
rm -rf "$DEST"
mv "$tmp" "$DEST"
# Older images and parts are left by changed inputs: keep only the current ones (a guest
# still running from an old image keeps its open files).
for old in "$GUEST_ROOT"/*/ "$GUEST_ROOT"/parts/*/; do
  old=${old%/}
  case "$old" in "$DEST" | "$GUEST_ROOT/parts" | "$KDIR" | "$IDIR" | "$RDIR") continue ;; esac
  log "removing the outdated $old"
  rm -rf "$old"
done
step "guest image ready: $DEST"
echo "$DEST"
