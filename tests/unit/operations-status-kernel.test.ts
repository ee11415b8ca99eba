import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseInventory } from '../../components/inventory/index.js';
import { collectPairStatus, pairStatusMatrix, parseListSas, parseXfrmState, type HostSaReport } from '../../components/operations/index.js';
import { computeHostPairs } from '../../components/topology/index.js';
import { FAKE_KEY, prettySas, xfrmStatText, xfrmStateText } from './operations-fixtures.js';

// `ipsec-mesh status --kernel`: the kernel SAD of each end is read with the SAs (one SSH
// command, key lines filtered on the host), and a CHILD_SA charon calls installed but the
// kernel holds only half of shows as `half`.

const A = '198.51.100.1';
const B = '198.51.100.2';
const inventory = parseInventory({
  mesh: { name: 'm' },
  sites: [{ name: 's1' }],
  hosts: [
    { name: 'a', site: 's1', addresses: { ipv4: [A] } },
    { name: 'b', site: 's1', addresses: { ipv4: [B] } },
  ],
  rules: [{ mesh: { sites: ['s1'] } }],
});
const set = computeHostPairs(inventory);

const sasOf = (self: string, local: string, remote: string, peer: string): string =>
  prettySas([{ name: `m_${peer}_v4`, id: 1, local, remote, children: [{ name: `m_${peer}_v4`, id: 2, spiIn: self === 'a' ? 'c0000001' : 'c0000002', spiOut: self === 'a' ? 'c0000002' : 'c0000001', local, remote }] }]);

describe('pairStatusMatrix with the kernel SAD', () => {
  it('both kernels hold both SAs: encrypted; one kernel lost its inbound SA: half', () => {
    const full = (sadA: string): HostSaReport[] => [
      { host: 'a', sas: parseListSas(sasOf('a', A, B, 'b')), sad: parseXfrmState(sadA) },
      { host: 'b', sas: parseListSas(sasOf('b', B, A, 'a')), sad: parseXfrmState(xfrmStateText([{ src: A, dst: B, spi: 'c0000002' }, { src: B, dst: A, spi: 'c0000001' }])) },
    ];
    const both = xfrmStateText([{ src: B, dst: A, spi: 'c0000001' }, { src: A, dst: B, spi: 'c0000002' }]);
    const [ok] = pairStatusMatrix(inventory, set.pairs, full(both));
    expect(ok).toMatchObject({ health: 'encrypted', a: { sad: 'ok' }, b: { sad: 'ok' } });
    const [half] = pairStatusMatrix(inventory, set.pairs, full(xfrmStateText([{ src: A, dst: B, spi: 'c0000002' }])));
    expect(half).toMatchObject({ health: 'half', a: { sad: 'half' }, b: { sad: 'ok' } });
    // Without the SAD (no --kernel) nothing changes: charon's view alone.
    const [plain] = pairStatusMatrix(inventory, set.pairs, full(both).map(({ sad: _, ...r }) => r));
    expect(plain!.health).toBe('encrypted');
    expect(plain!.a.sad).toBeUndefined();
  });
});

describe('collectPairStatus --kernel', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ipsec-mesh-status-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('runs one command per host and splits its output into SAs, SAD and xfrm_stat', async () => {
    // Stands in for `ssh`: records the remote command, prints what that command prints on the host.
    const fake = join(dir, 'fake-ssh');
    for (const [h, self, local, remote, peer] of [['a', 'a', A, B, 'b'], ['b', 'b', B, A, 'a']] as const) {
      const sad = xfrmStateText([{ src: remote, dst: local, spi: self === 'a' ? 'c0000001' : 'c0000002' }, { src: local, dst: remote, spi: self === 'a' ? 'c0000002' : 'c0000001' }]);
      // What the host-side grep lets through: the header and proto lines only.
      const filtered = sad.split('\n').filter((l) => /^src |^\s+proto /.test(l)).join('\n') + '\n';
      writeFileSync(join(dir, `${local}.out`), `${sasOf(self, local, remote, peer)}@@ipsec-mesh xfrm state\n${filtered}@@ipsec-mesh xfrm_stat\n${xfrmStatText({ XfrmInNoStates: h === 'a' ? 4 : 0 })}`);
      expect(filtered).not.toContain(FAKE_KEY.slice(2, 20));
    }
    writeFileSync(fake, `#!/bin/sh\nshift\nfor a; do last=$a; target=$prev; prev=$a; done\nprintf "%s\\n" "$last" >> "${dir}/commands"\ncat "${dir}/$(echo "$target" | sed "s/.*@//").out"\n`, { mode: 0o755 });
    const { rows, reports } = await collectPairStatus(inventory, set, { identityFile: '/dev/null', wrapper: [fake], kernel: true });
    expect(rows.map((r) => [r.pair, r.health, r.a.sad, r.b.sad])).toEqual([['a~b', 'encrypted', 'ok', 'ok']]);
    expect(reports.find((r) => r.host === 'a')!.xfrmStat!.get('XfrmInNoStates')).toBe(4);
    const commands = readFileSync(join(dir, 'commands'), 'utf8').split('\n').filter(Boolean);
    expect(commands).toHaveLength(2);
    expect(commands[0]).toMatch(/^\/bin\/sh -c 'swanctl --list-sas --pretty \|\| exit \$\?; .*ip xfrm state 2>\/dev\/null \| grep -E "\^src \|\^\[\[:space:\]\]\+proto "; .*cat \/proc\/net\/xfrm_stat/);
  });
});
