// The vm lab: the namespace lab's sites, router and operator namespace, with qemu guests
// running Debian's own kernel (real ESP) as hosts. See docs/vm-lab.md.
export {
  type StartVmLabOptions,
  type VmExecOptions,
  type VmHost,
  type VmLabDownReport,
  type WireCapture,
  type WireCaptureOptions,
  DEFAULT_BOOT_PARALLEL,
  DEFAULT_BOOT_TIMEOUT_MS,
  VM_BINARIES,
  VmLab,
  assertVmPrerequisites,
  attachVmLab,
  isVmLab,
  missingVmPrerequisites,
  startVmLab,
  stopVmLab,
} from './vm-lab.js';
export { type EnsureGuestImageOptions, type GuestImage, type GuestImageManifest, BUILD_SCRIPT, ensureGuestImage } from './guest-image.js';
export { type GuestSeedInput, type SeedFile, GUEST_IF, guestIpBatch, guestSeedFiles, writeGuestSeed } from './guest-seed.js';
export {
  type GuestInit,
  type QemuGuestOptions,
  GUEST_INITS,
  GUEST_KERNEL_ARGS,
  GUEST_MEMORY_MB,
  GUEST_SYSTEMD_KERNEL_ARGS,
  GUEST_TB_SIZE_MB,
  guestKernelArgs,
  guestMac,
  guestOverlayArgv,
  qemuArgv,
} from './qemu-argv.js';
export { type PcapFrame, type WireSummary, IP_PROTO, PcapError, occurrences, parsePcap, summariseWire } from './pcap.js';
export { VmGuestError, VmLabError } from './vm-errors.js';
export { VM_STATE_FILE, type VmGuestRecord, type VmLabStateFile } from './vm-state.js';
