import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePayload, encodePayload, pushScript } from '../../components/delivery/index.js';
import { type Inventory, parseInventory } from '../../components/inventory/index.js';
import { planHostDelivery, ppkSecrets, pskPayload } from '../../components/mesh/host-delivery-plan.js';
import { computeHostPairs, pairsForHost } from '../../components/topology/index.js';
import { type ExecResult, type Lab, type ProcessRecord, labInventory, startLab, stopLab, waitFor } from '../../lab/netns/index.js';
import { sendDatagrams } from '../../lab/pair-traffic.js';
import { sshRun } from './delivery-ssh.js';
import { expectNothingLeft, requireLabPrerequisites, threeHostSpec } from './lab-test-support.js';

// A push renews exactly the IKE_SAs of the connections it changed: charon keeps a running
// IKE_SA on its old proposal and credentials (even across rekeys), so the push closes those
// whose fingerprint changed, and nothing else. Three namespace hosts with their own sshd and
// charon, PSK mode, the payloads the MeshHost component builds (planHostDelivery +
// pskPayload), pushed over real SSH. Kernel without ESP: IKE_SAs are real (docs/lab.md).

const NAME = 'dchg';
const MESH = 'dchg';
const MASTER = 'ipsec-mesh changed-connection lab test master secret';
const HOSTS = ['a', 'b', 'c'] as const;
// IKE_SAs with each pair's post-quantum preshared key mixed in (on by default).
const OLD_PROPOSAL = 'AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384/PPK';
const NEW_PROPOSAL = 'AES_GCM_16_128/PRF_HMAC_SHA2_256/ECP_256/PPK';
const STATE = `/etc/swanctl/.ipsec-mesh-state.${MESH}`;

const conn = (peer: string, family: 'v4' | 'v6'): string => `${MESH}_${peer}_${family}`;
const push = (host: string, phase: 'create' | 'update' = 'update'): string => pushScript({ host, mesh: MESH, phase });

/** What the MeshHost component hands to `host`'s push in PSK mode. */
function payloadOf(inv: Inventory, host: string): string {
  const pairs = [...pairsForHost(computeHostPairs(inv), host)];
  const plan = planHostDelivery({ inventory: inv, hostName: host, pairs, enabled: true });
  return pskPayload(plan, inv, pairs, MASTER, undefined, ppkSecrets(plan, inv, pairs, MASTER));
}

/**
 * `payload` with the connections to `peer` on another IKE and ESP proposal, set in their own
 * sections (overriding the templates) as a per-pair proposal would be rendered; their
 * fingerprints change with their text, the others' stay.
 */
function withPairProposal(payload: string, peer: string): string {
  const d = decodePayload(payload);
  const names = [conn(peer, 'v4'), conn(peer, 'v6')];
  const files = d.files.map((f) => {
    let content = f.content;
    if (f.path === `/etc/swanctl/conf.d/ipsec-mesh_${MESH}.conf`) {
      for (const n of names) {
        const ike = `\t${n} : ipsec-mesh_${MESH}_conn {\n`;
        const child = `\t\t\t${n} : ipsec-mesh_${MESH}_require {\n`;
        expect(content).toContain(ike);
        expect(content).toContain(child);
        content = content
          .replace(ike, `${ike}\t\tproposals = aes128gcm16-prfsha256-ecp256\n`)
          .replace(child, `${child}\t\t\t\tesp_proposals = aes128gcm16-ecp256\n`);
      }
    }
    return { path: f.path, mode: f.mode, content, secret: (f.mode & 0o077) === 0 && f.path.endsWith('_secrets.conf') };
  });
  const fingerprints: Record<string, string> = { ...d.fingerprints };
  for (const n of names) {
    expect(fingerprints[n]).toBeDefined();
    fingerprints[n] = createHash('sha256').update(`${fingerprints[n]}\nper-pair proposal aes128gcm16\n`).digest('hex');
  }
  return encodePayload({ host: d.host, mesh: d.mesh, files, keep: d.keep, connections: d.connections, fingerprints });
}

function expectOk(r: ExecResult): ExecResult {
  expect(r.code, `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`).toBe(0);
  return r;
}

interface Sa {
  readonly id: number;
  readonly proposal: string;
}

/** `host:connection` → its one ESTABLISHED IKE_SA (a second one of a name fails the test). */
async function sas(lab: Lab): Promise<Map<string, Sa>> {
  const m = new Map<string, Sa>();
  for (const h of HOSTS) {
    for (const sa of await lab.listSas(h)) {
      if (sa.state !== 'ESTABLISHED') continue;
      expect(m.has(`${h}:${sa.name}`), `duplicate IKE_SA ${h}:${sa.name}`).toBe(false);
      m.set(`${h}:${sa.name}`, { id: sa.uniqueId, proposal: sa.proposal });
    }
  }
  return m;
}

const ids = (m: Map<string, Sa>, keep: (key: string) => boolean = () => true): Map<string, number> =>
  new Map([...m].filter(([k]) => keep(k)).map(([k, v]) => [k, v.id]));

/** The four IKE_SA ends of the a–c pair (both families). */
const AC = ['a:' + conn('c', 'v4'), 'a:' + conn('c', 'v6'), 'c:' + conn('a', 'v4'), 'c:' + conn('a', 'v6')];
const isAc = (key: string): boolean => AC.includes(key);

describe('a push renews exactly the IKE_SAs of the connections it changed (PSK, real charon)', () => {
  let lab: Lab;
  let inv: Inventory;
  let started: ProcessRecord[] = [];
  let before: Map<string, Sa>;
  let charonPids: (number | undefined)[];
  const payloads = new Map<string, string>();

  beforeAll(async () => {
    requireLabPrerequisites();
    await stopLab(NAME);
    lab = await startLab(threeHostSpec(NAME));
    started = [...lab.processes];
    inv = parseInventory(labInventory(lab, { mesh: { name: MESH, domain: 'lab.example', auth: 'psk' } }), `lab ${lab.name}`);
    for (const h of HOSTS) payloads.set(h, payloadOf(inv, h));
  });

  afterAll(async () => {
    if (!lab) return;
    started = [...started, ...lab.processes];
    await stopLab(NAME);
    expectNothingLeft(NAME, started);
  });

  it('records a fingerprint per connection in the state file; every pair and family negotiates', async () => {
    for (const h of HOSTS) {
      const p = decodePayload(payloads.get(h)!);
      expectOk(await sshRun(lab, h, push(h, 'create'), payloads.get(h)!));
      const recorded = lab.readHostFile(h, STATE).split('\n').filter((l) => l.startsWith('D '));
      expect(recorded).toEqual(Object.entries(p.fingerprints).map(([c, fp]) => `D ${c} ${fp}`).sort());
      expect(recorded).toHaveLength(4);
    }
    for (const pair of computeHostPairs(inv).pairs) {
      for (const f of ['v4', 'v6'] as const) {
        const r = await lab.swanctl(pair.a, ['--initiate', '--ike', conn(pair.b, f)]);
        expect(r.stdout, `${pair.a} ${conn(pair.b, f)}`).toMatch(/IKE_SA \S+ established between/);
      }
    }
    before = await sas(lab);
    expect(before.size).toBe(12); // 3 pairs × 2 families × 2 ends
    for (const [k, sa] of before) expect(sa.proposal, k).toBe(OLD_PROPOSAL);
    charonPids = HOSTS.map((h) => lab.charonPid(h));
    expect(charonPids.every((p) => p !== undefined)).toBe(true);
  });

  it('a re-push of the same payloads closes nothing: same unique ids, same charon', async () => {
    for (const h of HOSTS) {
      const r = expectOk(await sshRun(lab, h, push(h), payloads.get(h)!));
      expect(r.stdout).toContain('0 orphaned IKE_SA(s) closed; 0 IKE_SA(s) of 0 changed connection(s) closed');
    }
    expect(ids(await sas(lab))).toEqual(ids(before));
    expect(HOSTS.map((h) => lab.charonPid(h))).toEqual(charonPids);
  });

  it('one pair on a new proposal: its IKE_SAs are closed and renegotiate it on traffic; every other IKE_SA and charon stay', async () => {
    const changed = new Map([
      ['a', withPairProposal(payloads.get('a')!, 'c')],
      ['b', payloads.get('b')!],
      ['c', withPairProposal(payloads.get('c')!, 'a')],
    ]);
    // One host after the other, as a wave of pushes arrives. a closes its two; c's side of them
    // went with a's DELETE, or c closes what is left of it.
    const ra = expectOk(await sshRun(lab, 'a', push('a'), changed.get('a')!));
    expect(ra.stdout).toContain('0 orphaned IKE_SA(s) closed; 2 IKE_SA(s) of 2 changed connection(s) closed');
    const rb = expectOk(await sshRun(lab, 'b', push('b'), changed.get('b')!));
    expect(rb.stdout).toContain('0 IKE_SA(s) of 0 changed connection(s) closed');
    const rc = expectOk(await sshRun(lab, 'c', push('c'), changed.get('c')!));
    expect(rc.stdout).toMatch(/; [0-2] IKE_SA\(s\) of 2 changed connection\(s\) closed \([0-2] new first\);/);
    for (const [h, p] of changed) payloads.set(h, p);

    const gone = await waitFor(async () => {
      const now = await sas(lab);
      return AC.every((k) => now.get(k)?.id !== before.get(k)!.id) ? true : undefined;
    }, 10_000, 100);
    expect(gone, 'the old a–c IKE_SAs are still there').toBe(true);

    // Traffic from a hits the trap: a new IKE_SA per family, on the new proposal.
    const hostC = lab.hosts.find((h) => h.name === 'c')!;
    let after = new Map<string, Sa>();
    const up = await waitFor(async () => {
      await sendDatagrams(lab, 'a', [...hostC.ipv4, ...hostC.ipv6]);
      after = await sas(lab);
      return AC.every((k) => after.has(k)) ? true : undefined;
    }, 20_000, 300);
    expect(up, `a–c not renegotiated: ${[...after.keys()].join(' ')}`).toBe(true);
    for (const k of AC) {
      expect(after.get(k)!.id, k).not.toBe(before.get(k)!.id);
      expect(after.get(k)!.proposal, k).toBe(NEW_PROPOSAL);
    }
    // Every other pair: the very same IKE_SAs, still on the old proposal.
    expect(ids(after, (k) => !isAc(k))).toEqual(ids(before, (k) => !isAc(k)));
    for (const [k, sa] of after) if (!isAc(k)) expect(sa.proposal, k).toBe(OLD_PROPOSAL);
    expect(HOSTS.map((h) => lab.charonPid(h))).toEqual(charonPids);
    before = after;
  });

  it('pushing the changed payloads again closes nothing', async () => {
    for (const h of HOSTS) {
      const r = expectOk(await sshRun(lab, h, push(h), payloads.get(h)!));
      expect(r.stdout).toContain('0 IKE_SA(s) of 0 changed connection(s) closed');
    }
    expect(ids(await sas(lab))).toEqual(ids(before));
    expect(HOSTS.map((h) => lab.charonPid(h))).toEqual(charonPids);
  });
});
