// compact `site-prefixes` in real strongSwan 5.9.8 and nftables on namespace hosts
// (docs/render.md, *Site prefixes*): the trap on a whole site prefix starts an IKE_SA to the
// peer a packet is for; what the inventory knows is not a peer (the host itself, a host of the
// same site it is not paired with) and what the user declared (the router) pass the trap and the backstop
// in both directions; an address nobody declared is trapped: no reply, charon tries IKE to it.
// This kernel has no ESP, so a peer's CHILD_SA cannot install: the IKE_SA is what shows.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Inventory, parseInventory } from '../../components/inventory/index.js';
import { meshFilePaths, renderHostConfig } from '../../components/render/index.js';
import { computeHostPairs, pairsForHost } from '../../components/topology/index.js';
import { type Lab, type ProcessRecord, labInventory, startLab, stopLab, waitFor } from '../../lab/netns/index.js';
import { expectNothingLeft, labPpkFiles, requireLabPrerequisites, TWO_SITES } from './lab-test-support.js';
import { type TestCa, hostCredentialFiles, makeTestCa } from './test-ca.js';

const NAME = 'spfx';
const MESH = 'lab';
const MASTER = 'ipsec-mesh lab site-prefixes master secret, 32+ bytes';
const tmp = mkdtempSync(join(tmpdir(), 'ipsec-mesh-site-prefixes-'));
// Lab addresses (lab-spec: .10 + n in each site, the router at .1).
const A = '198.51.100.10';
const B = '198.51.100.11';
const D = '198.51.100.12'; // in east, runs charon and sshd, but is not in the inventory
const E = '198.51.100.13'; // in east and in the inventory, but its pair with a is excluded
const C = '203.0.113.10';
const ROUTER_EAST = '198.51.100.1';

let lab: Lab;
let started: ProcessRecord[] = [];
let ca: TestCa;
let inventory: Inventory;
let setupError: unknown;

beforeAll(async () => {
  try {
    requireLabPrerequisites();
    await stopLab(NAME);
    lab = await startLab({
      name: NAME,
      sites: TWO_SITES,
      hosts: [
        { name: 'a', site: 'east' },
        { name: 'b', site: 'east' },
        { name: 'd', site: 'east' },
        { name: 'e', site: 'east' },
        { name: 'c', site: 'west' },
      ],
    });
    started = [...lab.processes];
    ca = await makeTestCa(join(tmp, 'ca'), 'site-prefixes CA');
    const input = labInventory(lab, {
      hosts: ['a', 'b', 'c', 'e'],
      mesh: {
        name: MESH,
        domain: 'lab.example',
        layout: 'compact',
        compactSelectors: 'site-prefixes',
        // The router lives inside east's prefix and runs no IPsec: declared, so it passes.
        bypass: [{ name: 'routers', protocol: 'any', cidrs: [`${ROUTER_EAST}/32`] }],
      },
      rules: [{ mesh: { sites: ['east', 'west'] } }, { exclude: { pairs: [['a', 'e']] } }],
    });
    inventory = parseInventory(input, `lab ${NAME}`);
    const set = computeHostPairs(inventory);
    for (const host of inventory.hosts) {
      const pairs = pairsForHost(set, host.name);
      const paths = meshFilePaths(inventory.mesh, host);
      const files = [
        ...renderHostConfig({ inventory, host, pairs, monitor: false }).filter((f) => !f.path.startsWith('/etc/systemd/')),
        ...labPpkFiles(inventory, host, pairs, MASTER),
        ...(await hostCredentialFiles(ca, lab, inventory, host)),
      ];
      for (const f of files) lab.writeHostFile(host.name, f.path, f.content, f.mode);
      await lab.exec(host.name, ['nft', '-f', paths.backstopNft], { check: true });
      await lab.swanctl(host.name, ['--load-all', '--noprompt'], { check: true });
    }
  } catch (e) {
    setupError = e;
  }
}, 180_000);

afterAll(async () => {
  if (lab) {
    started = [...started, ...lab.processes];
    await stopLab(NAME);
    expectNothingLeft(NAME, started);
  }
  rmSync(tmp, { recursive: true, force: true });
}, 120_000);

async function ping(from: string, to: string): Promise<boolean> {
  return (await lab.exec(from, ['ping', '-n', '-c', '1', '-W', '2', to])).code === 0;
}

async function ikeTo(host: string, address: string): Promise<string[]> {
  return (await lab.listSas(host)).filter((s) => s.remoteHost === address).map((s) => s.state);
}

describe('compact site-prefixes on namespace hosts (strongSwan 5.9.8, nftables)', () => {
  it('traps the sites\' prefixes, not the peers: the policies and the backstop say so', async () => {
    if (setupError !== undefined) throw setupError;
    const pols = (await lab.exec('a', ['ip', 'xfrm', 'policy'], { check: true })).stdout;
    expect(pols).toContain('dst 198.51.100.0/26');
    expect(pols).toContain('dst 203.0.113.0/26');
    expect(pols).not.toContain(`dst ${B}/32 \n\tdir out priority`); // no per-peer trap
    const nft = (await lab.exec('a', ['nft', 'list', 'table', 'inet', `ipsec-mesh_${MESH}`], { check: true })).stdout;
    expect(nft).toMatch(/set require_v4 \{[^}]*flags interval[^}]*elements = \{ 198\.51\.100\.0\/26, 203\.0\.113\.0\/26 \}/);
  });

  it('a packet to a peer in the prefix starts an IKE_SA to that peer, in its own site and across the router', async () => {
    if (setupError !== undefined) throw setupError;
    for (const [peer, address] of [['b', B], ['c', C]] as const) {
      await ping('a', address);
      const up = await waitFor(async () => ((await ikeTo('a', address)).includes('ESTABLISHED') ? true : undefined), 20_000, 200);
      expect(up, `IKE_SA a → ${peer}`).toBe(true);
      expect(await ikeTo(peer, A)).toContain('ESTABLISHED');
    }
  });

  it('the host itself, a same-site host it is not paired with (e, excluded) and the declared router pass both ways, with no IKE', async () => {
    if (setupError !== undefined) throw setupError;
    expect(await ping('a', A), 'a → itself').toBe(true);
    expect(await ping('a', E), 'a → e (e passes a the same way)').toBe(true);
    expect(await ping('e', A), 'e → a').toBe(true);
    expect(await ping('a', ROUTER_EAST), 'a → the router, declared as a bypass rule').toBe(true);
    expect(await ikeTo('a', E)).toEqual([]);
    expect(await ikeTo('e', A)).toEqual([]);
    expect(await ikeTo('a', ROUTER_EAST)).toEqual([]);
  });

  it('an address nobody declared is trapped like a peer: no reply, charon tries IKE to it, the backstop counts the drop', async () => {
    if (setupError !== undefined) throw setupError;
    expect(await ping('a', D)).toBe(false);
    const tried = await waitFor(async () => ((await ikeTo('a', D)).length > 0 || lab.charonLog('a').includes(`to ${D}[500]`) ? true : undefined), 20_000, 200);
    expect(tried, 'charon on a initiates towards d').toBe(true);
    const drops = (await lab.exec('a', ['nft', 'list', 'chain', 'inet', `ipsec-mesh_${MESH}`, 'to_peer_v4'], { check: true })).stdout;
    expect(Number(/counter packets (\d+) bytes \d+ drop/.exec(drops)?.[1] ?? 0), 'backstop drops').toBeGreaterThan(0);
  });
});
