// The mesh: an inventory in, per-host credentials and configuration out, pushed over SSH.
//
// Children: one CertificateAuthority per CA label (certificate mode) or one RandomPassword
// master secret (PSK mode); the model (model-plan.ts): one Site per site with its MeshHosts
// under it, and one HostPair per pair (per-peer layout) or one SitePair per pair of sites
// (compact layout). The class validates and wires; the rules live in mesh-options.ts,
// model-plan.ts, host-delivery-plan.ts and credentials/.
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import { derivePairPsk } from '../credentials/psk-derivation.js';
import { derivePairPpk } from '../credentials/ppk-derivation.js';
import { PSK_MASTER_LENGTH, PSK_MASTER_SPECIALS, pskMasterKeepers } from '../credentials/psk-master.js';
import { insecureHostKeyWarnings } from '../inventory/host-trust.js';
import { isManaged, managedHosts } from '../inventory/managed-hosts.js';
import type { Host, Layout } from '../inventory/model.js';
import { planPeerSheet, type PeerSheet } from '../render/peer-sheet.js';
import { renderContext } from '../render/render-context.js';
import { peerOf, type HostPair } from '../topology/host-pair.js';
import { pairsForHost, type HostPairSet } from '../topology/host-pair-set.js';
import { inventoryUsesPpk } from '../topology/pair-quantum-resistance.js';
import { CertificateAuthority } from './certificate-authority.js';
import { pairPskFingerprint } from './connection-fingerprints.js';
import type { HostSummary } from './host-summary.js';
import type { IpsecMeshArgs } from './mesh-args.js';
import { hostDeliveryInput } from './mesh-files.js';
import { MeshHost, type HostCertificateArgs } from './mesh-host.js';
import { MeshArgsError } from './mesh-error.js';
import { resolveMeshOptions } from './mesh-options.js';
import { planModelResources, sitePairKey } from './model-plan.js';
import { MeshHostPair, MeshSite, MeshSitePair } from './model-resources.js';
import { withoutStackTraces } from './registration-cost.js';
import { revocationList } from './revocation-list.js';

export const IPSEC_MESH_TYPE = 'ipsec-mesh:index:IpsecMesh';

/**
 * Per unmanaged host, per peer, the pair's key from `derive` (pairs at `off` have no
 * connection, so no key; `withKey` leaves out pairs without one, e.g. a PPK at `off`).
 */
function unmanagedPeerKeys(
  unmanaged: readonly Host[],
  pairs: HostPairSet,
  derive: (pair: HostPair) => string,
  withKey: (pair: HostPair, host: Host) => boolean = () => true,
): Record<string, Record<string, string>> {
  return Object.fromEntries(
    unmanaged.map((u) => [
      u.name,
      Object.fromEntries(
        pairsForHost(pairs, u.name)
          .filter((p) => p.enforcement !== 'off' && withKey(p, u))
          .map((p) => [peerOf(p, u.name), derive(p)]),
      ),
    ]),
  );
}

export class IpsecMesh extends pulumi.ComponentResource {
  readonly meshName: pulumi.Output<string>;
  /** Certificate mode: the issuing CA's certificate (what peers outside the mesh would trust). */
  readonly caCertificatePem: pulumi.Output<string | undefined>;
  /** Certificate mode: every trusted CA certificate by label (two during a rollover). */
  readonly caCertificates: pulumi.Output<Record<string, string>>;
  /** One summary per managed host, in inventory order. Never secret. */
  readonly hosts: pulumi.Output<HostSummary[]>;
  /**
   * Per unmanaged host (managed: false): its side of every connection, to be typed in by hand
   * (`ipsec-mesh peer-sheet` prints the same as text). Plain: it holds no key.
   */
  readonly peerSheets: pulumi.Output<Record<string, PeerSheet>>;
  /** Secret: per unmanaged host, per peer, the pair's pre-shared key (`0x…`). */
  readonly unmanagedPeerSecrets: pulumi.Output<Record<string, Record<string, string>>>;
  /** Secret: per unmanaged host, per peer, the pair's post-quantum preshared key (pairs with one). */
  readonly unmanagedPeerPpks: pulumi.Output<Record<string, Record<string, string>>>;

  private readonly siteResources: ReadonlyMap<string, MeshSite>;
  private readonly hostPairResources: ReadonlyMap<string, MeshHostPair>;
  private readonly sitePairResources: ReadonlyMap<string, MeshSitePair>;
  private readonly layout: Layout;
  private readonly hostResources: ReadonlyMap<string, MeshHost>;

  constructor(name: string, args: IpsecMeshArgs, opts?: pulumi.ComponentResourceOptions) {
    const o = resolveMeshOptions(args);
    const inventory = o.inventory;
    const mesh = inventory.mesh;
    // Component inputs are stored in state: plain, non-secret facts only (never args.ssh).
    super(
      IPSEC_MESH_TYPE,
      name,
      { meshName: mesh.name, auth: mesh.auth, hostCount: inventory.hosts.length, pairCount: o.pairs.pairs.length, enabled: o.enabled },
      opts,
    );
    for (const w of insecureHostKeyWarnings(inventory)) pulumi.log.warn(w, this);

    const cas = new Map<string, CertificateAuthority>();
    let certificate: HostCertificateArgs | undefined;
    let pskMaster: pulumi.Output<string> | undefined;
    let pskAcceptMaster: pulumi.Output<string> | undefined;
    if (o.certificates !== undefined) {
      const c = o.certificates;
      for (const label of c.ca.trusted) {
        // Named by label, not role: a CA keeps its resources from `next` through `previous`.
        cas.set(label, new CertificateAuthority(`${name}-ca-${label}`, { meshName: mesh.name, label, validityHours: c.caValidityHours }, { parent: this }));
      }
      const issuer = cas.get(c.ca.issuer)!;
      const trusted = c.ca.trusted.map((label) => ({ label, certificatePem: cas.get(label)!.certificatePem }));
      certificate = {
        generation: c.generation,
        validityHours: c.validityHours,
        renewBeforeHours: c.renewBeforeHours,
        issuerLabel: c.ca.issuer,
        issuerCertificatePem: issuer.certificatePem,
        issuerPrivateKeyPem: issuer.privateKeyPem,
        trusted,
      };
    } else if (o.psk !== undefined) {
      // One master per generation in use, named by generation: a rotation's generations keep
      // their resources as their roles move (accepted → signing → gone). The oldest takes over
      // the single master of stacks made before rotations (named without a generation).
      const generations = [o.psk.generation, ...(o.psk.acceptGeneration === undefined ? [] : [o.psk.acceptGeneration])];
      const oldest = Math.min(...generations);
      const masters = new Map(
        generations.map((g) => [
          g,
          new random.RandomPassword(
            `${name}-psk-master-g${g}`,
            { length: PSK_MASTER_LENGTH, special: true, overrideSpecial: PSK_MASTER_SPECIALS, keepers: pskMasterKeepers(g) },
            { parent: this, ...(g === oldest ? { aliases: [{ name: `${name}-psk-master` }] } : {}) },
          ),
        ]),
      );
      pskMaster = pulumi.secret(masters.get(o.psk.generation)!.result);
      const accepted = o.psk.acceptGeneration === undefined ? undefined : masters.get(o.psk.acceptGeneration);
      if (accepted !== undefined) pskAcceptMaster = pulumi.secret(accepted.result);
    }

    // Post-quantum preshared keys: one master, each pair's PPK derived from it (ppk-derivation.ts).
    const usesPpk = inventoryUsesPpk(inventory);
    // A rotation (mesh.ppkGeneration) makes a new master under a new name, so every pair gets a
    // new key under a new PPK_ID; generation 0 keeps the first release's name.
    const ppkGeneration = inventory.mesh.ppkGeneration;
    const ppkMaster = usesPpk
      ? pulumi.secret(
          new random.RandomPassword(
            ppkGeneration === 0 ? `${name}-ppk-master` : `${name}-ppk-master-g${ppkGeneration}`,
            { length: PSK_MASTER_LENGTH, special: true, overrideSpecial: PSK_MASTER_SPECIALS },
            { parent: this },
          ).result,
        )
      : undefined;

    // The CRL needs every host's certificate and every host's push needs the CRL: the pushes
    // get it as a deferred Output, settled once the hosts (and their certificates) exist.
    let settleCrl: ((crl: pulumi.Output<string>) => void) | undefined;
    const crlPem =
      certificate === undefined
        ? undefined
        : pulumi.output(new Promise<pulumi.Output<string>>((resolve) => (settleCrl = resolve))).apply((crl) => crl);

    const model = planModelResources(inventory, o.pairs);
    const sites = new Map(model.sites.map((f) => [f.name, new MeshSite(`${name}-site-${f.name}`, f, { parent: this })]));
    // Hosts live under their site; the alias keeps stacks made before sites were resources
    // (hosts directly under the mesh) from replacing anything.
    // A staged rollout builds hosts wave by wave: each wave's pushes wait for every gate of
    // the wave before (rollout-plan.ts). Without one, every host is pushed at once.
    const rollout = o.rollout;
    const waveOf = (host: string): number => rollout?.waveOf.get(host) ?? Number.MAX_SAFE_INTEGER;
    // Unmanaged hosts get no resources: their side is typed in from the peer sheet.
    const managed = managedHosts(inventory);
    const unmanaged = inventory.hosts.filter((h) => !isManaged(h));
    const order = rollout === undefined ? managed : [...managed].sort((a, b) => waveOf(a.name) - waveOf(b.name));
    const gates: pulumi.Resource[][] = [];
    const built = new Map<string, MeshHost>();
    for (const h of order) {
      const delivery = hostDeliveryInput(o, h.name);
      const wave = rollout?.waveOf.get(h.name);
      const staged =
        rollout === undefined || wave === undefined
          ? undefined
          : {
              gate: rollout.gate,
              timeoutSeconds: rollout.timeoutSeconds,
              after: wave > 0 ? (gates[wave - 1] ?? []) : [],
              // An unmanaged peer may be typed in later: gated like a later wave's host, only
              // if the pair was deployed before.
              laterHosts: [...rollout.waves.slice(wave + 1).flat(), ...unmanaged.map((u) => u.name)],
            };
      const host = new MeshHost(
        `${name}-${h.name}`,
        {
          inventory: delivery.inventory,
          hostName: delivery.hostName,
          pairs: [...delivery.pairs],
          enabled: delivery.enabled,
          ssh: args.ssh,
          installPackages: o.installPackages,
          ...(certificate ? { certificate } : {}),
          ...(pskMaster ? { pskMaster } : {}),
          ...(pskAcceptMaster ? { pskAcceptMaster } : {}),
          ...(ppkMaster ? { ppkMaster } : {}),
          ...(crlPem ? { crlPem } : {}),
          ...(staged ? { rollout: staged } : {}),
          ...(o.repairHosts.has(h.name) ? { repair: true } : {}),
        },
        { parent: sites.get(h.site) ?? this, aliases: [{ parent: this }] },
      );
      if (host.gate !== undefined && wave !== undefined) (gates[wave] ??= []).push(host.gate);
      built.set(h.name, host);
    }
    const hosts = managed.map((h) => built.get(h.name)!);
    this.hostResources = built;
    if (settleCrl !== undefined && o.certificates !== undefined) {
      const issuer = cas.get(o.certificates.ca.issuer)!;
      settleCrl(
        revocationList(
          `${name}-crl`,
          {
            inventory,
            hostCertificates: hosts.map((h) => pulumi.all([h.hostName, h.certificatePem])),
            issuerCertificatePem: issuer.certificatePem,
            issuerPrivateKeyPem: issuer.privateKeyPem,
          },
          { parent: this },
        ),
      );
    }
    const master = pskMaster;
    this.hostPairResources = withoutStackTraces(
      () =>
        new Map(
          model.hostPairs.map((f) => {
            // A fingerprint of the key, not the key: made public on purpose (docs/components.md).
            const fingerprint = master === undefined ? undefined : pulumi.unsecret(master.apply((m) => pairPskFingerprint(derivePairPsk(m, mesh.name, f.a, f.b))));
            return [f.key, new MeshHostPair(`${name}-pair-${f.key}`, f, fingerprint, { parent: this })];
          }),
        ),
    );
    this.sitePairResources = new Map(model.sitePairs.map((f) => [f.key, new MeshSitePair(`${name}-sites-${f.key}`, f, { parent: this })]));
    this.siteResources = sites;
    this.layout = mesh.layout;

    this.meshName = pulumi.output(mesh.name);
    const issuerLabel = o.certificates?.ca.issuer;
    this.caCertificatePem = issuerLabel === undefined ? pulumi.output(undefined) : cas.get(issuerLabel)!.certificatePem;
    this.caCertificates = pulumi.all([...cas].map(([label, ca]) => ca.certificatePem.apply((pem) => [label, pem] as const))).apply((entries) =>
      Object.fromEntries(entries),
    );
    this.hosts = pulumi.all(hosts.map((h) => h.summary));
    this.peerSheets = pulumi.output(Object.fromEntries(unmanaged.map((u) => [u.name, planPeerSheet(inventory, u, pairsForHost(o.pairs, u.name))])));
    this.unmanagedPeerSecrets =
      master === undefined || unmanaged.length === 0
        ? pulumi.output<Record<string, Record<string, string>>>({})
        : pulumi.secret(master.apply((m) => unmanagedPeerKeys(unmanaged, o.pairs, (p) => derivePairPsk(m, mesh.name, p.a, p.b))));
    this.unmanagedPeerPpks =
      ppkMaster === undefined || unmanaged.length === 0
        ? pulumi.output<Record<string, Record<string, string>>>({})
        : pulumi.secret(
            ppkMaster.apply((m) => {
              const ctx = renderContext(inventory);
              return unmanagedPeerKeys(
                unmanaged,
                o.pairs,
                (p) => derivePairPpk(m, mesh.name, p.a, p.b),
                (p, u) => ctx.quantumResistance(p, u.site, ctx.hostsByName.get(peerOf(p, u.name))!.site) !== 'off',
              );
            }),
          );
    this.registerOutputs({
      meshName: this.meshName,
      caCertificatePem: this.caCertificatePem,
      caCertificates: this.caCertificates,
      hosts: this.hosts,
      // Only meshes with unmanaged hosts carry these (older stacks' outputs stay as they were).
      ...(unmanaged.length > 0 ? { peerSheets: this.peerSheets, unmanagedPeerSecrets: this.unmanagedPeerSecrets, unmanagedPeerPpks: this.unmanagedPeerPpks } : {}),
    });
  }

  /** The site resource named `site`, or undefined when the inventory has none. */
  site(site: string): MeshSite | undefined {
    return this.siteResources.get(site);
  }

  /** Every site resource, in inventory order. */
  allSites(): MeshSite[] {
    return [...this.siteResources.values()];
  }

  /**
   * The HostPair of hosts `x` and `y` (either order), or undefined when they are not paired.
   * The compact layout has no per-pair resources: asking it throws (use `sitePair`).
   */
  pair(x: string, y: string): MeshHostPair | undefined {
    if (this.layout === 'compact') {
      throw new MeshArgsError('pair', `the compact layout keeps no per-pair resources; use sitePair(siteOf(${x}), siteOf(${y})) for a summary`);
    }
    return this.hostPairResources.get(x < y ? `${x}~${y}` : `${y}~${x}`);
  }

  /** Every HostPair (per-peer layout), in pair order; empty in the compact layout. */
  allPairs(): MeshHostPair[] {
    return [...this.hostPairResources.values()];
  }

  /** The SitePair of sites `x` and `y` (either order; `x` = `y` for the pairs inside one site), compact layout only. */
  sitePair(x: string, y: string): MeshSitePair | undefined {
    return this.sitePairResources.get(sitePairKey(x, y));
  }

  /** Every SitePair (compact layout), sorted by key; empty in the per-peer layout. */
  allSitePairs(): MeshSitePair[] {
    return [...this.sitePairResources.values()];
  }

  /**
   * Pushes these hosts' current payloads again in this `up`: they drifted from their last push
   * (`checkDrift`). For a check that ran beside the engine; `repairHosts` does it up front.
   * Throws MeshArgsError for a name that is not a host of the mesh.
   */
  repair(hostNames: readonly string[]): void {
    hostNames.forEach((h, i) => {
      const host = this.hostResources.get(h);
      if (host === undefined) throw new MeshArgsError(`repair[${i}]`, `${JSON.stringify(h)} is not a host of the inventory`);
      host.repair();
    });
  }
}
