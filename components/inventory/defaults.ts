// Defaults applied when an inventory leaves a field out. Documented in docs/inventory.md.
import type { AuthMode, Enforcement, IpsecMode, Layout, Lifetimes, MssClampMode, QuantumResistance, StrongswanLine } from './model.js';

export const DEFAULT_LAYOUT: Layout = 'per-peer';
export const DEFAULT_AUTH: AuthMode = 'certificate';
export const DEFAULT_MODE: IpsecMode = 'transport';
/** The goal of the mesh is that traffic never leaves in cleartext; staged rollouts say `use` explicitly. */
export const DEFAULT_ENFORCEMENT: Enforcement = 'require';
/** AEAD + ECP-384: one proposal both ends must share (swanctl proposals are strict). */
export const DEFAULT_PROPOSALS: readonly string[] = ['aes256gcm16-prfsha384-ecp384'];
/** The key-exchange group gives PFS on every CHILD_SA rekey. */
export const DEFAULT_ESP_PROPOSALS: readonly string[] = ['aes256gcm16-ecp384'];

export const DEFAULT_LIFETIMES: Lifetimes = {
  // strongSwan's own IKE default (4 h): IKE_SAs are rekeyed, never reauthenticated.
  ikeRekeySeconds: 14_400,
  // strongSwan's CHILD default (1 h); each rekey runs a fresh ECDH (PFS).
  childRekeySeconds: 3_600,
  // Without ESN the ESP sequence number wraps after 2^32 packets; 50 GB rekeys well before
  // that even for minimum-size packets (2^32 × 28 B ≈ 120 GB), and bounds data per key.
  childRekeyBytes: 50_000_000_000,
  // Idle peers are probed after 30 s, so a rebooted peer is noticed within about a minute.
  dpdDelaySeconds: 30,
};

/** Kernels 3.7–3.13 defaulted to 1024 and dropped SAs under load; 32768 covers large meshes. */
export const DEFAULT_XFRM_GC_THRESH = 32_768;
export const DEFAULT_SITE_MTU = 1500;
/** Clamp where the inventory says a link is smaller than Ethernet's 1500: that is where PMTU discovery is relied on. */
export const DEFAULT_MSS_CLAMP: MssClampMode = 'auto';
export const DEFAULT_NETWORK = 'default';
export const DEFAULT_SSH_PORT = 22;
export const DEFAULT_SSH_USER = 'root';

/**
 * Post-quantum preshared keys: off until the default can be `required` for new meshes
 * (docs/quantum-resistance.md, *Default*).
 */
// Quantum-resistant by default: every pair mixes a post-quantum preshared key into its keys.
export const DEFAULT_QUANTUM_RESISTANCE: QuantumResistance = 'required';
/** Debian 12's strongSwan (5.9.8): no ML-KEM; hosts running 6.x say so (docs/quantum-resistance.md). */
export const DEFAULT_STRONGSWAN_LINE: StrongswanLine = '5';
