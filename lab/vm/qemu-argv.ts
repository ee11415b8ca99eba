// The qemu command line of one guest. Pure, so the choices are visible in one place:
//   - TCG only: KVM fails on these machines (guests die with emulation failures). `-cpu max`
//     gives AES-NI/PCLMUL to the guest; tb-size=128 (MB of translated code) and -m 256 keep
//     a guest near 400 MB RSS.
//   - The kernel is the decompressed vmlinux (PVH entry): about twice as fast to boot as the
//     bzImage under TCG, which would spend seconds decompressing itself.
//   - Root disk: a qcow2 overlay per guest backed by the shared ext4 image, so the image is
//     never modified and a guest keeps what was written to it across a reboot (as a real
//     host keeps ipsec-mesh's files), until the lab goes down. Seed: a read-only tar.
//   - -nodefaults -nographic: no VGA, no default NIC; the serial console goes to a file.
//     `romfile=` skips the NIC's PXE option ROM (nothing boots from the network).
//   - -no-reboot + panic=-1: a guest that panics or powers off ends its qemu, so the lab
//     sees a dead PID at once instead of waiting for SSH.
//   - init: busybox init by default; `imlab.init=systemd` makes the initramfs exec systemd,
//     and the kernel line then also carries what the seed tar cannot (enable symlinks).

export interface QemuGuestOptions {
  readonly name: string;
  readonly kernel: string;
  readonly initrd: string;
  /** The guest's own qcow2 overlay of the shared root image (guestOverlayArgv makes it). */
  readonly disk: string;
  readonly seed: string;
  readonly consoleLog: string;
  /** Tap device (already created, in the namespace qemu runs in). */
  readonly tap: string;
  readonly mac: string;
  /** PID 1 of the guest (default busybox). */
  readonly init?: GuestInit;
  readonly memoryMb?: number;
  readonly tbSizeMb?: number;
  readonly qemuBinary?: string;
}

export const GUEST_MEMORY_MB = 256;
export const GUEST_TB_SIZE_MB = 128;
export const GUEST_KERNEL_ARGS = ['console=ttyS0', 'quiet', 'panic=-1', 'mitigations=off', 'random.trust_cpu=on'] as const;

/** busybox init: fast under TCG, the default. systemd: for tests of the product's units. */
export type GuestInit = 'busybox' | 'systemd';
export const GUEST_INITS: readonly GuestInit[] = ['busybox', 'systemd'];

/**
 * Added for `init: 'systemd'`. The lab's units (lab/vm/guest/rootfs/etc/systemd/system) are
 * pulled in here, since the seed carries no symlinks. Masked: what would fight the lab's own
 * units (a second sshd on port 22: imlab-sshd then fails; strongswan-starter, whose charon
 * wins the race for /run/charon.pid and is respawned when tests stop it on purpose), wait for devices no udev announces (serial-getty@ttyS0: 90 s, then
 * failed), try to reach the Internet (apt's timers), or only cost boot time under TCG:
 * e2scrub_reap (1.9 s: no LVM), modprobe@* (the root has no modules: they are in the
 * initramfs), binfmt_misc's automount (no autofs4: an UNSUPP line on the console).
 */
export const GUEST_SYSTEMD_KERNEL_ARGS = [
  'imlab.init=systemd',
  'systemd.unit=multi-user.target',
  'systemd.wants=imlab-boot.service',
  'systemd.wants=imlab-sshd.service',
  'systemd.mask=ssh.service',
  'systemd.mask=strongswan-starter.service',
  'systemd.mask=getty.target',
  'systemd.mask=e2scrub_reap.service',
  'systemd.mask=modprobe@.service',
  'systemd.mask=proc-sys-fs-binfmt_misc.automount',
  'systemd.mask=apt-daily.timer',
  'systemd.mask=apt-daily-upgrade.timer',
] as const;

/** The kernel command line's words for a guest booting with `init`. */
export function guestKernelArgs(init: GuestInit = 'busybox'): string[] {
  return init === 'systemd' ? [...GUEST_KERNEL_ARGS, ...GUEST_SYSTEMD_KERNEL_ARGS] : [...GUEST_KERNEL_ARGS];
}

export function qemuArgv(o: QemuGuestOptions): string[] {
  return [
    o.qemuBinary ?? 'qemu-system-x86_64',
    '-name', `${o.name},process=${o.name}`,
    '-accel', `tcg,tb-size=${o.tbSizeMb ?? GUEST_TB_SIZE_MB}`,
    '-cpu', 'max',
    '-smp', '1',
    '-m', String(o.memoryMb ?? GUEST_MEMORY_MB),
    '-nodefaults', '-no-user-config', '-nographic',
    '-serial', `file:${o.consoleLog}`,
    '-monitor', 'none',
    '-no-reboot',
    '-kernel', o.kernel,
    '-initrd', o.initrd,
    '-append', guestKernelArgs(o.init).join(' '),
    '-drive', `file=${o.disk},if=virtio,format=qcow2`,
    '-drive', `file=${o.seed},if=virtio,format=raw,readonly=on`,
    '-netdev', `tap,id=net0,ifname=${o.tap},script=no,downscript=no`,
    '-device', `virtio-net-pci,netdev=net0,mac=${o.mac},romfile=`,
  ];
}

/** qemu-img's command line that makes a guest's overlay disk over the shared (read-only) image. */
export function guestOverlayArgv(rootfs: string, disk: string): string[] {
  return ['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', rootfs, disk];
}

/** A locally administered MAC per guest: 52:54:00 (qemu's prefix), then site and host index. */
export function guestMac(siteIndex: number, hostIndex: number): string {
  const hex = (n: number): string => (n & 0xff).toString(16).padStart(2, '0');
  return `52:54:00:${hex(siteIndex)}:${hex(hostIndex >> 8)}:${hex(hostIndex)}`;
}
