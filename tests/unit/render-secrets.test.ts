// The PSK secrets file: shape, permissions, and that no key ever lands in another file.
import { describe, expect, it } from 'vitest';
import { derivePairPsk } from '../../components/credentials/psk-derivation.js';
import { renderHostConfig, renderPskSecrets, RenderError } from '../../components/render/index.js';
import type { HostPair } from '../../components/topology/host-pair.js';
import { parseConf } from './render-conf-parser.js';
import { fullMesh, mkHost, mkInventory, pairsOf } from './render-fixtures.js';

const HOSTS = [mkHost('alpha', 1), mkHost('bravo', 2), mkHost('charlie', 3, { v6: false }), mkHost('delta', 4)];
const MARKER = 'S3CR3T-MARKER';
const marked = (p: HostPair) => `0x${Buffer.from(`${MARKER}:${p.key}`).toString('hex')}`;

describe('renderPskSecrets', () => {
  const inventory = mkInventory(HOSTS, { auth: 'psk' });
  const pairs = fullMesh(HOSTS, (a, b) => (b === 'delta' ? 'off' : a === 'alpha' && b === 'charlie' ? 'use' : 'require'));

  it('is one secret file, mode 0600, with an ike section per peer keyed by both identities', () => {
    const f = renderPskSecrets({ inventory, host: HOSTS[0]!, pairs: pairsOf(pairs, 'alpha'), pskFor: marked });
    expect(f.path).toBe('/etc/swanctl/conf.d/ipsec-mesh_prod_secrets.conf');
    expect(f.mode).toBe(0o600);
    expect(f.secret).toBe(true);
    const root = parseConf(f.content);
    expect([...root.sections.keys()]).toEqual(['secrets']);
    const secrets = root.sections.get('secrets')!;
    // delta's pair is off: no connection, so no key on the host.
    expect(secrets.order).toEqual(['ike-prod_bravo', 'ike-prod_charlie']);
    const bravo = secrets.sections.get('ike-prod_bravo')!;
    expect(Object.fromEntries(bravo.values)).toEqual({
      'id-a': 'alpha.dc1.mesh.example',
      'id-b': 'bravo.dc1.mesh.example',
      secret: marked(pairs.find((p) => p.key === 'alpha~bravo')!),
    });
  });

  it('during a rotation adds an accept-only section per peer, keyed by the peer alone (charon never signs with it)', () => {
    const accepted = (p: HostPair): string => `accept-${p.key}`;
    const f = renderPskSecrets({ inventory, host: HOSTS[0]!, pairs: pairsOf(pairs, 'alpha'), pskFor: marked, pskAcceptFor: accepted });
    const secrets = parseConf(f.content).sections.get('secrets')!;
    expect(secrets.order).toEqual(['ike-prod_bravo', 'ike-prod_bravo_accept', 'ike-prod_charlie', 'ike-prod_charlie_accept']);
    const pair = pairs.find((p) => p.key === 'alpha~bravo')!;
    expect(Object.fromEntries(secrets.sections.get('ike-prod_bravo')!.values)).toEqual({ 'id-a': 'alpha.dc1.mesh.example', 'id-b': 'bravo.dc1.mesh.example', secret: marked(pair) });
    // Only the peer's identity: the signing section (both identities) always matches better.
    expect(Object.fromEntries(secrets.sections.get('ike-prod_bravo_accept')!.values)).toEqual({ id: 'bravo.dc1.mesh.example', secret: accepted(pair) });
  });

  it('gives both ends of a pair the same key under the same identities (derived with derivePairPsk)', () => {
    const master = 'm'.repeat(48);
    const pskFor = (p: HostPair) => derivePairPsk(master, 'prod', p.a, p.b);
    const read = (host: string, peer: string) =>
      parseConf(renderPskSecrets({ inventory, host: HOSTS.find((h) => h.name === host)!, pairs: pairsOf(pairs, host), pskFor }).content)
        .sections.get('secrets')!
        .sections.get(`ike-prod_${peer}`)!;
    const fromAlpha = read('alpha', 'bravo');
    const fromBravo = read('bravo', 'alpha');
    expect(fromAlpha.values.get('secret')).toBe(fromBravo.values.get('secret'));
    expect(fromAlpha.values.get('secret')).toMatch(/^0x[0-9a-f]{64}$/);
    expect(new Set([fromAlpha.values.get('id-a'), fromAlpha.values.get('id-b')])).toEqual(new Set([fromBravo.values.get('id-a'), fromBravo.values.get('id-b')]));
  });

  it('quotes a text key so it reads back unchanged', () => {
    const text = 'pass "word" # not a comment';
    const f = renderPskSecrets({ inventory, host: HOSTS[0]!, pairs: pairsOf(pairs, 'alpha'), pskFor: () => text });
    expect(parseConf(f.content).sections.get('secrets')!.sections.get('ike-prod_bravo')!.values.get('secret')).toBe(text);
  });

  it('never puts a key into a non-secret file', () => {
    for (const h of HOSTS) {
      const mine = pairsOf(pairs, h.name);
      const secret = renderPskSecrets({ inventory, host: h, pairs: mine, pskFor: marked });
      const hex = Buffer.from(MARKER).toString('hex');
      if (mine.some((p) => p.enforcement !== 'off')) expect(secret.content).toContain(hex);
      for (const f of renderHostConfig({ inventory, host: h, pairs: mine })) {
        expect(f.secret).toBe(false);
        expect(f.content).not.toContain(hex);
        expect(f.content).not.toContain(MARKER);
      }
    }
  });

  it('never echoes an unusable key in its error', () => {
    let err: unknown;
    try {
      renderPskSecrets({ inventory, host: HOSTS[0]!, pairs: pairsOf(pairs, 'alpha'), pskFor: () => `${MARKER}\n` });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RenderError);
    expect((err as RenderError).code).toBe('bad-value');
    expect((err as RenderError).message).not.toContain(MARKER);
  });

  it('refuses certificate meshes and the compact layout', () => {
    const host = HOSTS[0]!;
    const mine = pairsOf(pairs, 'alpha');
    expect(() => renderPskSecrets({ inventory: mkInventory(HOSTS), host, pairs: mine, pskFor: marked })).toThrow(expect.objectContaining({ code: 'wrong-auth' }));
    expect(() => renderPskSecrets({ inventory: mkInventory(HOSTS, { auth: 'psk', layout: 'compact' }), host, pairs: mine, pskFor: marked })).toThrow(
      expect.objectContaining({ code: 'compact-psk' }),
    );
  });
});
