#!/usr/bin/env bash
# Installs the Debian packages the lab and the real-strongSwan tests need, idempotently:
# nothing is touched (and apt is not even asked) when everything is already installed;
# otherwise one `apt-get update` and one quiet `apt-get install` of exactly what is missing.
# Debian 12 (bookworm): strongSwan 5.9.8.
#
#   scripts/install-system-deps.sh        the lab and the tests (default, lean)
#   scripts/install-system-deps.sh --vm   also what the vm lab needs (qemu, debootstrap:
#                                         lab/vm, scripts/build-guest-image.sh); called by
#                                         `npm run lab -- --backend vm` and the vm tests only
set -euo pipefail

PACKAGES=(
  strongswan-swanctl            # swanctl (vici)
  strongswan-charon             # /usr/lib/ipsec/charon
  libcharon-extra-plugins       # kernel-libipsec (ESP in userland, for the tunnel-mode wire test)
  libstrongswan-standard-plugins # openssl + gcm: aes256gcm16 / ecp384 proposals
  strongswan-pki                # the test CA
  openssh-server                # sshd on every lab host
  openssh-client                # ssh, ssh-keygen
  iproute2                      # ip netns / link / addr / route / xfrm
  tcpdump                       # wire captures in the lab
  iputils-ping
  util-linux                    # nsenter, unshare
  procps                        # sysctl
  sudo                          # the non-root SSH user case (NOPASSWD) in the delivery tests
  openssl                       # signs the mesh CA's CRL on the operator machine; certificate checks in the tests
  shellcheck                    # every tracked .sh is checked in the unit tests
  nftables                      # the require backstop (nft), checked with nft --check in the unit tests
  jq                            # the peer sheet's command for an unmanaged peer's key (run by the lab test)
  logrotate                     # the charon log's rotation the push installs: checked with logrotate -d, rotated in the lab
)

# Optional group: the vm lab. Not part of the default install (qemu alone is ~30 packages).
VM_PACKAGES=(
  qemu-system-x86               # the guests (TCG; KVM does not work on these machines)
  debootstrap                   # the guests' root filesystem
  e2fsprogs                     # mke2fs -d: the root filesystem image without mounting it
  xz-utils                      # decompressing the kernel (vmlinuz → vmlinux)
  qemu-utils                    # qemu-img: each guest's overlay disk (a reboot keeps its files)
)
for arg in "$@"; do
  case "$arg" in
    --vm) PACKAGES+=("${VM_PACKAGES[@]}") ;;
    *) echo "unknown argument $arg (--vm adds the vm lab's packages)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all ${#PACKAGES[@]} present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "system packages missing: ${missing[*]}" >&2
    echo "run this script as root (or with passwordless sudo) to install them" >&2
    exit 1
  fi
else
  SUDO=()
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
echo "system packages: installing ${missing[*]} (apt-get update + install; log on failure)"
if ! "${SUDO[@]}" apt-get -q update >"$log" 2>&1; then
  cat "$log" >&2
  echo "apt-get update failed" >&2
  exit 1
fi
# The lab runs its own sshd/charon inside namespaces: keep the packages' services from
# starting on this machine during the install (policy-rc.d 101 = "action forbidden").
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
  "${SUDO[@]}" chmod 755 "$policy"
  trap 'rm -f "$log"; "${SUDO[@]}" rm -f "$policy"' EXIT
fi
if ! "${SUDO[@]}" apt-get -q -y install --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
  cat "$log" >&2
  echo "apt-get install failed" >&2
  exit 1
fi
echo "system packages: installed ${#missing[@]}"
