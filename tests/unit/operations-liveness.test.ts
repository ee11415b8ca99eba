import { describe, expect, it } from 'vitest';
import {
  DEFAULT_LIVENESS_SETTINGS,
  type LivenessInput,
  type LivenessTarget,
  backoffSeconds,
  decideLiveness,
} from '../../components/operations/liveness-check.js';
import { XfrmParseError, parseXfrmPolicy, parseXfrmStat, parseXfrmState } from '../../components/operations/liveness-xfrm.js';
import { parseListSas } from '../../components/operations/swanctl-status.js';
import { FAKE_KEY, type IkeFixture, prettySas, xfrmPolicyText, xfrmStatText, xfrmStateText } from './operations-fixtures.js';

// The pure parts of the liveness check: the kernel-table parsers and the decision rules.

const A = '198.51.100.10';
const B = '198.51.100.11';
const C = '198.51.100.12';

describe('parseXfrmState', () => {
  it('reads src, dst, proto, spi, reqid and mode — never the keys — with and without -s', () => {
    const sas = [
      { src: B, dst: A, spi: 'c1a2b3c4', bytes: 5_000_000_000 },
      { src: '2001:db8:e::10', dst: '2001:db8:e::11', spi: '0000c1a2' },
    ];
    for (const stats of [false, true]) {
      const parsed = parseXfrmState(xfrmStateText(sas, stats));
      expect(parsed.map((s) => [s.src, s.dst, s.proto, s.spi, s.reqid, s.mode])).toEqual([
        [B, A, 'esp', 'c1a2b3c4', 1, 'transport'],
        ['2001:db8:e::10', '2001:db8:e::11', 'esp', '0000c1a2', 1, 'transport'],
      ]);
      expect(JSON.stringify(parsed)).not.toContain(FAKE_KEY.slice(2, 30));
      if (stats) expect(parsed[0]).toMatchObject({ bytes: 5_000_000_000, packets: 5, replayDrops: 0, integrityFailed: 0 });
      else expect(parsed[0]!.bytes).toBeUndefined();
    }
  });

  it('an empty SAD (this lab kernel) is no SA; anything else is a typed error with the line', () => {
    expect(parseXfrmState('')).toEqual([]);
    expect(() => parseXfrmState('\tproto esp spi 0x1 reqid 1 mode transport\n')).toThrow(XfrmParseError);
    expect(() => parseXfrmState('src 1.2.3.4 dst 1.2.3.5\n\treplay-window 0\n')).toThrow(/line 1: SA 1.2.3.4 → 1.2.3.5 has no "proto … spi …" line/);
  });
});

describe('parseXfrmPolicy', () => {
  // Verbatim from `ip xfrm policy` on a lab host (bypass shunts and charon's socket policies).
  const LAB = [
    'src ::/0 dst ::/0 proto ipv6-icmp type 136 ',
    '\tdir out priority 1000 ptype main ',
    'src 0.0.0.0/0 dst 0.0.0.0/0 proto tcp dport 22 ',
    '\tdir out priority 1000 ptype main ',
    'src 0.0.0.0/0 dst 0.0.0.0/0 ',
    '\tsocket in priority 0 ptype main ',
    '',
  ].join('\n');

  it('reads selectors, direction, priority and templates', () => {
    expect(parseXfrmPolicy(LAB)).toEqual([
      { src: '::/0', dst: '::/0', upper: 'proto ipv6-icmp type 136', dir: 'out', priority: 1000, action: 'allow', templates: [] },
      { src: '0.0.0.0/0', dst: '0.0.0.0/0', upper: 'proto tcp dport 22', dir: 'out', priority: 1000, action: 'allow', templates: [] },
      { src: '0.0.0.0/0', dst: '0.0.0.0/0', upper: '', dir: 'socket in', priority: 0, action: 'allow', templates: [] },
    ]);
    const trap = parseXfrmPolicy(xfrmPolicyText([{ src: `${A}/32`, dst: `${B}/32`, dir: 'out', esp: true }, { src: `${A}/32`, dst: `${C}/32`, dir: 'out', block: true }], false));
    expect(trap).toEqual([
      { src: `${A}/32`, dst: `${B}/32`, upper: '', dir: 'out', priority: 2000, action: 'allow', templates: [{ src: '0.0.0.0', dst: '0.0.0.0', proto: 'esp', reqid: 1, mode: 'transport' }] },
      { src: `${A}/32`, dst: `${C}/32`, upper: '', dir: 'out', priority: 2000, action: 'block', templates: [] },
    ]);
  });
});

describe('parseXfrmStat', () => {
  it('reads every counter of /proc/net/xfrm_stat in file order', () => {
    const m = parseXfrmStat(xfrmStatText({ XfrmInNoStates: 17 }));
    expect(m.get('XfrmInNoStates')).toBe(17);
    expect([...m.keys()][0]).toBe('XfrmInError');
    expect(() => parseXfrmStat('XfrmInError 1 2\n')).toThrow(XfrmParseError);
  });
});

const target = (peer: string, remote: string, role: LivenessTarget['role'], connection = `m_${peer}_v4`): LivenessTarget => ({
  connection,
  peer,
  family: 'ipv4',
  local: A,
  remote,
  enforcement: role === 'require' ? 'require' : 'use',
  role,
});

function input(targets: LivenessTarget[], ikes: IkeFixture[], over: Partial<LivenessInput> = {}): LivenessInput {
  return { mesh: 'm', targets, mode: 'timer', now: 10_000, sas: parseListSas(prettySas(ikes)), sad: [], spd: [], ...over };
}

describe('decideLiveness', () => {
  it('compact layout: peers sharing one connection name are told apart by address', () => {
    const targets = [target('b', B, 'require', 'm_v4'), target('c', C, 'require', 'm_v4')];
    const d = decideLiveness(input(targets, [{ name: 'm_v4', id: 1, local: A, remote: C, children: [{ name: 'm_v4', id: 9, spiIn: 'aa', spiOut: 'bb', local: A, remote: C }] }]));
    expect(d.rows.map((r) => [r.target.peer, r.ikeEstablished, r.childInstalled])).toEqual([
      ['b', false, false],
      ['c', true, true],
    ]);
    expect(d.actions).toEqual([]); // require: the trap negotiates on traffic
  });

  it('counts duplicate IKE_SAs and reports the youngest ages', () => {
    const d = decideLiveness(
      input([target('b', B, 'use-initiator')], [
        { name: 'm_b_v4', id: 1, local: A, remote: B, established: 500, children: [{ name: 'm_b_v4', id: 3, spiIn: 'a1', spiOut: 'b1', local: A, remote: B, installTime: 400 }] },
        { name: 'm_b_v4', id: 2, local: A, remote: B, established: 20, children: [{ name: 'm_b_v4', id: 4, spiIn: 'a2', spiOut: 'b2', local: A, remote: B, installTime: 10, state: 'REKEYED' }] },
      ]),
    );
    expect(d.rows[0]).toMatchObject({ ikeSas: 2, ikeAgeSeconds: 20, childAgeSeconds: 10, childInstalled: true });
    expect(d.actions).toEqual([]);
  });

  it('a CHILD_SA on its way out does not hold back re-initiation; one being set up does', () => {
    const ike = (state: string): IkeFixture => ({ name: 'm_b_v4', id: 1, local: A, remote: B, children: [{ name: 'm_b_v4', id: 3, spiIn: 'a1', spiOut: 'b1', local: A, remote: B, state }] });
    expect(decideLiveness(input([target('b', B, 'use-initiator')], [ike('DELETING')])).actions).toEqual([
      { kind: 'initiate', connection: 'm_b_v4', peer: 'b', family: 'ipv4', role: 'use-initiator', reason: 'no-child' },
    ]);
    expect(decideLiveness(input([target('b', B, 'use-initiator')], [ike('INSTALLING')])).actions).toEqual([]);
  });

  it('halflings: which half is missing; neither half in the SAD is left alone; terminations are capped', () => {
    const ikes: IkeFixture[] = ['b', 'c'].map((p, i) => ({
      name: `m_${p}_v4`,
      id: i + 1,
      local: A,
      remote: p === 'b' ? B : C,
      children: [{ name: `m_${p}_v4`, id: 10 + i, spiIn: `000000a${i}`, spiOut: `000000b${i}`, local: A, remote: p === 'b' ? B : C }],
    }));
    const targets = [target('b', B, 'require'), target('c', C, 'use-initiator')];
    const sad = parseXfrmState(xfrmStateText([{ src: B, dst: A, spi: '000000a0' }, { src: A, dst: C, spi: '000000b1' }]));
    const first = decideLiveness(input(targets, ikes, { sad }));
    expect(first.rows.map((r) => r.halfling)).toEqual(['out', 'in']);
    expect(first.actions.map((a) => a.kind)).toEqual(['suspect', 'suspect']);
    const second = decideLiveness(input(targets, ikes, { sad, confirmed: new Set([10, 11]), settings: { maxTerminations: 1 } }));
    expect(second.actions).toEqual([
      { kind: 'terminate', childId: 10, connection: 'm_b_v4', peer: 'b', family: 'ipv4', missing: 'out' },
    ]);
    const both = decideLiveness(input(targets, ikes, { sad, confirmed: new Set([10, 11]) }));
    // c initiates: it started the pair, and its own close does not restart it.
    expect(both.actions.map((a) => `${a.kind}:${a.connection}${a.kind === 'initiate' ? `:${a.reason}` : ''}`)).toEqual([
      'terminate:m_b_v4',
      'terminate:m_c_v4',
      'initiate:m_c_v4:halfling',
    ]);
    expect(decideLiveness(input(targets, ikes, { sad: [] })).actions).toEqual([]);
  });

  it('responders never initiate on the timer; require never initiates', () => {
    const targets = [target('b', B, 'use-responder'), target('c', C, 'require')];
    expect(decideLiveness(input(targets, [])).actions).toEqual([]);
    expect(decideLiveness(input(targets, [], { mode: 'after-load' })).actions.map((a) => a.connection)).toEqual(['m_b_v4']);
  });

  it('back-off doubles from 30 s up to 30 min', () => {
    const s = DEFAULT_LIVENESS_SETTINGS;
    expect([0, 1, 2, 3, 6, 7, 100].map((n) => backoffSeconds(n, s))).toEqual([0, 30, 60, 120, 960, 1800, 1800]);
  });

  it('without the SPD, cleartext follows charon: use with no CHILD_SA', () => {
    const d = decideLiveness(input([target('b', B, 'use-responder'), target('c', C, 'require')], [], { spd: undefined }));
    expect(d.rows.map((r) => [r.cleartext, r.espPolicyOut])).toEqual([
      [true, undefined],
      [false, undefined],
    ]);
  });
});
