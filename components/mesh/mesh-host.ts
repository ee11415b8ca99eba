// One host of the mesh: its credentials (certificate mode: a key made on the host, a CSR,
// a certificate signed by the mesh CA) and one push of its configuration over SSH.
//
// Resources per host: certificate mode 4 (host-key command, certificate, push, review), PSK
// mode 2 (push, review), plus 1 when installPackages is on and 1 gate in a staged rollout.
// Never one per pair.
import * as command from '@pulumi/command';
import * as pulumi from '@pulumi/pulumi';
import * as tls from '@pulumi/tls';
import { HOST_ALLOWED_USES } from '../credentials/certificate-profile.js';
import { hostCertificateNames } from '../credentials/host-certificate-names.js';
import { packPayload } from '../delivery/delivery-payload.js';
import { prepareHostKeyScript, removeHostKeyScript } from '../delivery/host-key-script.js';
import { installPackagesScript } from '../delivery/install-packages-script.js';
import { pushScript } from '../delivery/push-script.js';
import { removeScript } from '../delivery/remove-script.js';
import { gateInput, payloadDigest, rolloutGateScript, type RolloutGateLevel } from '../delivery/rollout-gate.js';
import { livenessTargets } from '../render/monitor-files.js';
import type { Inventory } from '../inventory/model.js';
import type { HostPair } from '../topology/host-pair.js';
import { certificateFacts, type HostSummary } from './host-summary.js';
import { certificatePayload, certificateReview, planHostDelivery, ppkReviewFile, ppkSecrets, pskPayload, pskReview } from './host-delivery-plan.js';
import { MeshArgsError } from './mesh-error.js';
import { hostConnection, type SshArgs } from './ssh-connection.js';

export const MESH_HOST_TYPE = 'ipsec-mesh:index:MeshHost';

/** This program run's mark: a repair registered in it always runs (see makeRepair). */
const REPAIR_RUN = new Date().toISOString();

export interface TrustedCaArgs {
  label: string;
  certificatePem: pulumi.Input<string>;
}

export interface HostCertificateArgs {
  /** Host key generation: bumping it makes a new key on the host, a new CSR and certificate. */
  generation: number;
  validityHours: number;
  /** Renewed by any `up` within this many hours of expiry (tls earlyRenewalHours). */
  renewBeforeHours: number;
  /** Label of the issuing CA (must be among `trusted`). */
  issuerLabel: string;
  issuerCertificatePem: pulumi.Input<string>;
  /** Secret. */
  issuerPrivateKeyPem: pulumi.Input<string>;
  /** Every CA the host trusts, the issuer included. */
  trusted: TrustedCaArgs[];
}

/** This host's place in a staged rollout. */
export interface MeshHostRolloutArgs {
  gate: RolloutGateLevel;
  timeoutSeconds: number;
  /** The gates of the wave before: the push waits for all of them. */
  after: pulumi.Resource[];
  /** Hosts of later waves: pairs with them are gated only once deployed (rollout-gate.sh). */
  laterHosts: string[];
}

export interface MeshHostArgs {
  /** The parsed inventory (enforcement overrides applied). Plain data. */
  inventory: Inventory;
  hostName: string;
  /** This host's pairs (topology's pairsForHost). Plain data. */
  pairs: HostPair[];
  /** false: the mesh connections are unloaded; bypass policies and SSH stay. */
  enabled: boolean;
  ssh: SshArgs;
  installPackages?: boolean;
  /** Certificate mode. */
  certificate?: HostCertificateArgs;
  /** Certificate mode: the mesh CA's revocation list while it lists any certificate, else ''. */
  crlPem?: pulumi.Input<string>;
  /** PSK mode: the mesh master secret (secret) of the generation hosts sign with. */
  pskMaster?: pulumi.Input<string>;
  /** PSK mode, during a rotation: the other generation's master, whose keys are only accepted. */
  pskAcceptMaster?: pulumi.Input<string>;
  /** The mesh's PPK master (secret), when any pair uses post-quantum preshared keys. */
  ppkMaster?: pulumi.Input<string>;
  /** Staged rollout: the push waits for the previous wave's gates, and a gate follows it. */
  rollout?: MeshHostRolloutArgs;
  /** The host drifted from its last push: push the same payload again in this `up`. */
  repair?: boolean;
}

export class MeshHost extends pulumi.ComponentResource {
  readonly hostName: pulumi.Output<string>;
  readonly site: pulumi.Output<string>;
  /** Certificate mode: the host certificate (public); undefined in PSK mode. */
  readonly certificatePem: pulumi.Output<string | undefined>;
  /** What the host got; never secret. */
  readonly summary: pulumi.Output<HostSummary>;
  /** Staged rollout: the gate after this host's push (the next wave waits for it). */
  readonly gate?: command.remote.Command;
  /** Makes this host's repair command (once); undefined for a revoked host. */
  private readonly makeRepair?: () => command.remote.Command;
  private repairCommand?: command.remote.Command;

  constructor(name: string, args: MeshHostArgs, opts?: pulumi.ComponentResourceOptions) {
    const auth = args.inventory.mesh.auth;
    if (auth === 'certificate' && args.certificate === undefined) {
      throw new MeshArgsError('certificate', `host ${args.hostName}: certificate mode needs the CA and host certificate settings`);
    }
    if (auth === 'psk' && args.pskMaster === undefined) {
      throw new MeshArgsError('pskMaster', `host ${args.hostName}: PSK mode needs the mesh master secret`);
    }
    const cert = auth === 'certificate' ? args.certificate : undefined;
    if (cert !== undefined && !cert.trusted.some((t) => t.label === cert.issuerLabel)) {
      throw new MeshArgsError('certificate.trusted', `the issuing CA "${cert.issuerLabel}" must be trusted too`);
    }
    // Render and check everything before any resource exists: a bad inventory fails the
    // program up front, naming the host, instead of failing one push half-way through.
    const plan = planHostDelivery({
      inventory: args.inventory,
      hostName: args.hostName,
      pairs: args.pairs,
      enabled: args.enabled,
      ...(cert ? { certificate: { trustedCaLabels: cert.trusted.map((t) => t.label), generation: cert.generation } } : {}),
    });
    const host = plan.host;
    const mesh = plan.meshName;
    // Component inputs are stored in state: plain, non-secret facts only.
    super(MESH_HOST_TYPE, name, { meshName: mesh, hostName: host.name, site: host.site, auth }, opts);

    const connection = hostConnection(host.ssh, args.ssh);
    const common = { connection, addPreviousOutputInEnv: false } as const;
    const prerequisites: pulumi.Resource[] = [];
    if (args.installPackages === true) {
      prerequisites.push(
        new command.remote.Command(
          `${name}-install-packages`,
          { ...common, create: installPackagesScript({ host: host.name }), logging: 'stderr' },
          { parent: this },
        ),
      );
    }

    let stdin: pulumi.Output<string>;
    let review: pulumi.Output<Record<string, string>>;
    let certificatePem: pulumi.Output<string | undefined>;
    if (cert !== undefined) {
      const names = hostCertificateNames(host);
      // The key is made on the host and never leaves it; stdout is the CSR (public).
      // The generation is a trigger: a bump replaces this command (new key, new CSR), and
      // the replaced one's delete removes the old key only once the push no longer keeps it.
      const hostKey = new command.remote.Command(
        `${name}-host-key`,
        {
          ...common,
          create: prepareHostKeyScript({ host: host.name, mesh, generation: cert.generation, ...names }),
          delete: removeHostKeyScript({ host: host.name, mesh, generation: cert.generation }),
          triggers: [cert.generation],
          logging: 'stderr',
        },
        // How the key step reaches the host (port, user, pinned key, jump host) does not change
        // the key: no re-run for it. Every certificate feeds the mesh CA's CRL, which every push
        // waits for, so a key step that fails holds up the whole `up` (docs/components.md,
        // *Revocation*). A revoked host is not touched at all: no new key on an untrusted host.
        {
          parent: this,
          dependsOn: prerequisites,
          ignoreChanges: host.revoked === true ? ['create', 'delete', 'triggers', 'connection', 'logging'] : ['connection'],
        },
      );
      const signed = new tls.LocallySignedCert(
        `${name}-cert`,
        {
          certRequestPem: hostKey.stdout,
          caCertPem: cert.issuerCertificatePem,
          caPrivateKeyPem: pulumi.secret(cert.issuerPrivateKeyPem),
          allowedUses: [...HOST_ALLOWED_USES],
          validityPeriodHours: cert.validityHours,
          // Inside the window the provider plans a replacement: same CSR (same key), new
          // validity; the push carries it and charon reloads credentials.
          earlyRenewalHours: cert.renewBeforeHours,
        },
        { parent: this },
      );
      const trusted = cert.trusted.map((t) => pulumi.output(t.certificatePem).apply((pem) => [t.label, pem] as const));
      const material = pulumi.all([signed.certPem, pulumi.all(trusted), args.crlPem ?? '']);
      if (args.ppkMaster === undefined) {
        stdin = material.apply(([hostPem, cas, crl]) => packPayload(certificatePayload(plan, new Map(cas), hostPem, crl)));
        review = material.apply(([hostPem, cas, crl]) => certificateReview(plan, new Map(cas), hostPem, crl));
      } else {
        // The PPKs make the payload secret; review shows them as fingerprints only.
        const withPpk = pulumi.all([material, args.ppkMaster]);
        const inventory = args.inventory;
        const pairs = args.pairs;
        stdin = pulumi.secret(withPpk.apply(([[hostPem, cas, crl], ppk]) => packPayload(certificatePayload(plan, new Map(cas), hostPem, crl, ppkSecrets(plan, inventory, pairs, ppk)))));
        review = pulumi.unsecret(withPpk.apply(([[hostPem, cas, crl], ppk]) => certificateReview(plan, new Map(cas), hostPem, crl, ppkReviewFile(plan, inventory, pairs, ppk))));
      }
      certificatePem = signed.certPem;
    } else {
      const inventory = args.inventory;
      const pairs = args.pairs;
      // Derived inside apply from a secret: the keys never exist outside a secret Output.
      const masters = pulumi.all([args.pskMaster, args.pskAcceptMaster, args.ppkMaster]);
      stdin = pulumi.secret(
        masters.apply(([master, acceptMaster, ppk]) => packPayload(pskPayload(plan, inventory, pairs, master ?? '', acceptMaster, ppk === undefined ? undefined : ppkSecrets(plan, inventory, pairs, ppk)))),
      );
      // Fingerprints of the keys, never the keys: public on purpose, like the HostPairs'.
      review = pulumi.unsecret(
        masters.apply(([master, acceptMaster, ppk]) => pskReview(plan, inventory, pairs, master ?? '', acceptMaster, ppk === undefined ? undefined : ppkReviewFile(plan, inventory, pairs, ppk))),
      );
      certificatePem = pulumi.output(undefined);
    }

    // What `pulumi preview --diff` shows of this host: every file the push writes, in plain
    // text, keys as fingerprints (delivery-review.ts). A local command with nothing to run: its
    // environment is only stored and diffed, so a reviewer (and CI, without SSH) reads the
    // changed lines. Frozen with the push for a revoked host.
    new command.local.Command(
      `${name}-review`,
      { environment: review },
      { parent: this, ...(host.revoked === true ? { ignoreChanges: ['environment'] } : {}) },
    );

    // PSK pushes, and certificate pushes carrying PPKs, have secrets on stdin.
    const psk = cert === undefined || args.ppkMaster !== undefined;
    // No triggers: every change is an update (re-runs the push), so a delete script never
    // runs because of a replacement. stdin carries the payload; the command strings are fixed.
    const push = new command.remote.Command(
      `${name}-push`,
      {
        ...common,
        create: pushScript({ host: host.name, mesh, phase: 'create' }),
        update: pushScript({ host: host.name, mesh, phase: 'update' }),
        delete: removeScript({ host: host.name, mesh }),
        stdin,
        // PSK pushes carry secrets on stdin: nothing of the run is printed, outputs are secret.
        logging: psk ? 'none' : 'stderr',
      },
      {
        parent: this,
        dependsOn: [...prerequisites, ...(args.rollout?.after ?? [])],
        ...(psk ? { additionalSecretOutputs: ['stdin', 'stdout', 'stderr'] } : {}),
        // A revoked host gets nothing more: whatever it has stays as it was, and an unreachable
        // (or hostile) host cannot hold up the rest of the mesh.
        ...(host.revoked === true ? { ignoreChanges: ['create', 'update', 'delete', 'stdin', 'connection', 'triggers', 'logging'] } : {}),
      },
    );

    // Drift repair: the same push, run again by a command that exists for this `up` only (the
    // next `up` deletes it, which runs nothing). The push itself has no change to run for.
    // Its trigger is this run's: drift found by two `up`s in a row must be repaired twice (the
    // same inputs again would be "same", and nothing would run); a replacement runs no delete.
    if (host.revoked !== true) {
      this.makeRepair = () =>
        new command.remote.Command(
          `${name}-repair`,
          { ...common, create: pushScript({ host: host.name, mesh, phase: 'update' }), stdin, logging: psk ? 'none' : 'stderr', triggers: [REPAIR_RUN] },
          { parent: this, dependsOn: [push], ...(psk ? { additionalSecretOutputs: ['stdin', 'stdout', 'stderr'] } : {}) },
        );
    }
    const pushed: pulumi.Resource[] = [push];
    if (args.repair === true) {
      const repair = this.repair();
      if (repair !== undefined) pushed.push(repair);
    }

    const rollout = args.rollout;
    if (rollout !== undefined && host.revoked !== true) {
      const later = new Set(rollout.laterHosts);
      const targets = livenessTargets({ inventory: args.inventory, host, pairs: args.pairs, enabled: args.enabled }).map((t) => ({
        peer: t.peer,
        family: t.family,
        connection: t.connection,
        remote: t.remote,
        layout: args.inventory.mesh.layout,
        wave: later.has(t.peer) ? ('later' as const) : ('earlier' as const),
      }));
      const gate = rolloutGateScript(host.name, mesh);
      // The digest ties the gate to the push: whenever the push runs, the gate runs after it.
      const gateStdin = pulumi.unsecret(
        stdin.apply((payload) =>
          gateInput({ host: host.name, mesh, level: rollout.gate, waitSeconds: rollout.timeoutSeconds, payloadDigest: payloadDigest(payload), targets }),
        ),
      );
      this.gate = new command.remote.Command(
        `${name}-gate`,
        { ...common, create: gate, update: gate, stdin: gateStdin },
        { parent: this, dependsOn: pushed },
      );
    }

    const counts = { off: 0, use: 0, require: 0 };
    for (const p of args.pairs) counts[p.enforcement]++;
    const base = {
      name: host.name,
      site: host.site,
      fqdn: host.fqdn,
      identity: host.identity,
      peers: args.pairs.length,
      connections: [...plan.description.connections],
      bypass: [...plan.description.bypass],
      enforcement: counts,
      enabled: args.enabled,
    };
    this.summary = certificatePem.apply((pem): HostSummary => {
      if (pem === undefined || cert === undefined) return base;
      return { ...base, certificatePem: pem, issuer: cert.issuerLabel, ...describeCertificate(pem) };
    });
    this.hostName = pulumi.output(host.name);
    this.site = pulumi.output(host.site);
    this.certificatePem = certificatePem;
    this.registerOutputs({ hostName: this.hostName, site: this.site, certificatePem: this.certificatePem, summary: this.summary });
  }

  /**
   * Pushes this host's current payload again in this `up` (it drifted from its last push).
   * Callable after construction, e.g. once a drift check that ran beside the engine is done;
   * a gate made earlier does not wait for it (the push before it does). Idempotent.
   */
  repair(): command.remote.Command | undefined {
    if (this.repairCommand === undefined && this.makeRepair !== undefined) this.repairCommand = this.makeRepair();
    return this.repairCommand;
  }
}

function describeCertificate(pem: string): { certificateFingerprint?: string; certificateNotAfter?: string } {
  try {
    const facts = certificateFacts(pem);
    return { certificateFingerprint: facts.fingerprint, certificateNotAfter: facts.notAfter };
  } catch {
    // Only a placeholder (unit-test mocks) is not a certificate; the provider always returns one.
    return {};
  }
}
