import { describe, expect, it } from 'vitest';
import {
  analyseHostPairs,
  computeHostPairs,
  findPair,
  pairsForHost,
  peerOf,
  resolvePairEnforcement,
  TopologyError,
  UnknownHostError,
  weakerEnforcement,
  type HostPairSet,
  type TopologyIssueKind,
} from '../../components/topology/index.js';
import { dualHost, host, inventory, site, type InventorySpec } from './topology-fixtures.js';

const keys = (set: HostPairSet): string[] => set.pairs.map((p) => p.key);

/** The issues of an inventory that must not compute, after checking the thrown error's shape. */
function issuesOf(spec: InventorySpec) {
  let thrown: unknown;
  try {
    computeHostPairs(inventory(spec));
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(TopologyError);
  const err = thrown as TopologyError;
  expect(err.issues.length).toBeGreaterThan(0);
  expect(err.kind).toBe(err.issues[0]!.kind);
  return err.issues;
}

const kinds = (issues: readonly { kind: TopologyIssueKind }[]) => issues.map((i) => i.kind);

describe('mesh rule', () => {
  it('a revoked host pairs with no one, whatever the rules say', () => {
    const set = computeHostPairs(
      inventory({
        hosts: [dualHost('a', 1), { ...dualHost('b', 2), revoked: true }, dualHost('c', 3)],
        rules: [{ kind: 'mesh', select: { sites: ['s1'] } }, { kind: 'pairs', pairs: [['a', 'b']] }],
      }),
    );
    expect(keys(set)).toEqual(['a~c']);
    expect(pairsForHost(set, 'b')).toEqual([]);
  });

  it('pairs every selected host with every other, sorted by (a, b)', () => {
    const set = computeHostPairs(
      inventory({
        hosts: [dualHost('d', 4), dualHost('b', 2), dualHost('a', 1), dualHost('c', 3)],
        rules: [{ kind: 'mesh', select: { sites: ['s1'] } }],
      }),
    );
    expect(keys(set)).toEqual(['a~b', 'a~c', 'a~d', 'b~c', 'b~d', 'c~d']);
    for (const p of set.pairs) expect(p.key).toBe(`${p.a}~${p.b}`);
  });

  it('orders names by plain string comparison, not numerically or by locale', () => {
    const set = computeHostPairs(
      inventory({
        hosts: [dualHost('a9', 9), dualHost('a10', 10), dualHost('b', 2)],
        rules: [{ kind: 'mesh', select: { sites: ['s1'] } }],
      }),
    );
    expect(keys(set)).toEqual(['a10~a9', 'a10~b', 'a9~b']);
  });

  it('selects by tag: hosts must carry every listed tag', () => {
    const set = computeHostPairs(
      inventory({
        hosts: [
          dualHost('a', 1, { tags: ['db', 'eu'] }),
          dualHost('b', 2, { tags: ['db'] }),
          dualHost('c', 3, { tags: ['eu', 'db', 'x'] }),
        ],
        rules: [{ kind: 'mesh', select: { tags: ['db', 'eu'] } }],
      }),
    );
    expect(keys(set)).toEqual(['a~c']);
  });

  it('by cluster: one isolated full mesh per cluster; hosts without a cluster are left out', () => {
    const set = computeHostPairs(
      inventory({
        hosts: [
          dualHost('x1', 1, { cluster: 'x' }),
          dualHost('x2', 2, { cluster: 'x' }),
          dualHost('x3', 3, { cluster: 'x' }),
          dualHost('y1', 4, { cluster: 'y' }),
          dualHost('y2', 5, { cluster: 'y' }),
          dualHost('lone', 6),
        ],
        rules: [{ kind: 'mesh', select: { sites: ['s1'] }, by: 'cluster' }],
      }),
    );
    expect(keys(set)).toEqual(['x1~x2', 'x1~x3', 'x2~x3', 'y1~y2']);
    expect(pairsForHost(set, 'lone')).toEqual([]);
  });

  it('reports a mesh that matches fewer than two hosts, naming the rule and the host', () => {
    const issues = issuesOf({
      hosts: [dualHost('a', 1, { tags: ['t'] }), dualHost('b', 2)],
      rules: [
        { kind: 'mesh', select: { sites: ['s1'] } },
        { kind: 'mesh', select: { tags: ['t'] } },
      ],
    });
    expect(issues).toEqual([expect.objectContaining({ kind: 'rule-matches-nothing', ruleIndex: 1, hosts: ['a'] })]);
    expect(issues[0]!.message).toContain('rules[1] (mesh)');
  });

  it('reports a by-cluster mesh in which no cluster has two hosts', () => {
    const issues = issuesOf({
      hosts: [dualHost('a', 1, { cluster: 'x' }), dualHost('b', 2, { cluster: 'y' }), dualHost('c', 3)],
      rules: [
        { kind: 'pairs', pairs: [['a', 'b']] },
        { kind: 'mesh', select: { sites: ['s1'] }, by: 'cluster' },
      ],
    });
    expect(issues).toEqual([expect.objectContaining({ kind: 'rule-matches-nothing', ruleIndex: 1, hosts: ['a', 'b', 'c'] })]);
  });

  it('rejects an empty selector instead of reading it as "every host"', () => {
    const issues = issuesOf({
      hosts: [dualHost('a', 1), dualHost('b', 2)],
      rules: [{ kind: 'pairs', pairs: [['a', 'b']] }, { kind: 'mesh', select: {} }],
    });
    expect(issues).toEqual([expect.objectContaining({ kind: 'empty-selector', ruleIndex: 1 })]);
  });

  it('reports host names in a selector that the inventory does not have', () => {
    const issues = issuesOf({
      hosts: [dualHost('a', 1), dualHost('b', 2)],
      rules: [{ kind: 'mesh', select: { hosts: ['a', 'b', 'bb'] } }],
    });
    expect(issues).toEqual([expect.objectContaining({ kind: 'unknown-host', ruleIndex: 0, hosts: ['bb'] })]);
  });
});

describe('between rule', () => {
  const hosts = [
    dualHost('cp1', 1, { site: 'cache' }),
    dualHost('cp2', 2, { site: 'cache' }),
    dualHost('db1', 3, { site: 'core' }),
    dualHost('db2', 4, { site: 'core' }),
    dualHost('db3', 5, { site: 'core' }),
  ];

  it('pairs every host of one side with every host of the other, and nothing within a side', () => {
    const set = computeHostPairs(inventory({ hosts, rules: [{ kind: 'between', from: { sites: ['cache'] }, to: { sites: ['core'] } }] }));
    expect(keys(set)).toEqual(['cp1~db1', 'cp1~db2', 'cp1~db3', 'cp2~db1', 'cp2~db2', 'cp2~db3']);
  });

  it('pairs a host on both sides with the others, never with itself', () => {
    const set = computeHostPairs(
      inventory({ hosts, rules: [{ kind: 'between', from: { hosts: ['cp1', 'db1'] }, to: { hosts: ['db1', 'db2'] } }] }),
    );
    expect(keys(set)).toEqual(['cp1~db1', 'cp1~db2', 'db1~db2']);
  });

  it('reports a side that matches no host', () => {
    const issues = issuesOf({ hosts, rules: [{ kind: 'between', from: { sites: ['cache'] }, to: { sites: ['edge'] } }] });
    expect(kinds(issues)).toEqual(['rule-matches-nothing', 'empty-mesh']);
    expect(issues[0]).toMatchObject({ ruleIndex: 0, hosts: ['cp1', 'cp2'] });
  });

  it('reports both sides matching only the same single host', () => {
    const issues = issuesOf({
      hosts,
      rules: [
        { kind: 'mesh', select: { sites: ['core'] } },
        { kind: 'between', from: { hosts: ['cp1'] }, to: { hosts: ['cp1'] } },
      ],
    });
    expect(issues).toEqual([expect.objectContaining({ kind: 'rule-matches-nothing', ruleIndex: 1, hosts: ['cp1'] })]);
  });
});

describe('pairs rule', () => {
  const hosts = [dualHost('a', 1), dualHost('b', 2), dualHost('c', 3)];

  it('adds exactly the listed pairs, in either order, without duplicates', () => {
    const set = computeHostPairs(
      inventory({
        hosts,
        rules: [
          { kind: 'pairs', pairs: [['c', 'a'], ['a', 'c']] },
          { kind: 'pairs', pairs: [['b', 'c']] },
        ],
      }),
    );
    expect(keys(set)).toEqual(['a~c', 'b~c']);
  });

  it('reports a host paired with itself, an unknown host and an empty list, all at once', () => {
    const issues = issuesOf({
      hosts,
      rules: [
        { kind: 'pairs', pairs: [['a', 'a'], ['a', 'zz'], ['a', 'b']] },
        { kind: 'pairs', pairs: [] },
      ],
    });
    expect(issues).toEqual([
      expect.objectContaining({ kind: 'self-pair', ruleIndex: 0, hosts: ['a'] }),
      expect.objectContaining({ kind: 'unknown-host', ruleIndex: 0, hosts: ['zz'] }),
      expect.objectContaining({ kind: 'rule-matches-nothing', ruleIndex: 1 }),
    ]);
  });
});

describe('exclude rule', () => {
  const hosts = [dualHost('a', 1), dualHost('b', 2), dualHost('c', 3), dualHost('d', 4)];

  it('removes an explicit pair, even when it comes before the rule that adds it', () => {
    const set = computeHostPairs(
      inventory({
        hosts,
        rules: [
          { kind: 'exclude', pairs: [['c', 'a']] },
          { kind: 'mesh', select: { sites: ['s1'] } },
        ],
      }),
    );
    expect(keys(set)).toEqual(['a~b', 'a~d', 'b~c', 'b~d', 'c~d']);
  });

  it('removes every pair touching the hosts a selector matches', () => {
    const set = computeHostPairs(
      inventory({
        hosts: [...hosts.slice(0, 3), dualHost('d', 4, { tags: ['retiring'] })],
        rules: [
          { kind: 'mesh', select: { sites: ['s1'] } },
          { kind: 'exclude', select: { tags: ['retiring'] } },
        ],
      }),
    );
    expect(keys(set)).toEqual(['a~b', 'a~c', 'b~c']);
    expect(pairsForHost(set, 'd')).toEqual([]);
  });

  it('reports an exclude that removes no pair (stale or mistyped)', () => {
    const issues = issuesOf({
      hosts,
      rules: [
        { kind: 'pairs', pairs: [['a', 'b']] },
        { kind: 'exclude', pairs: [['c', 'd']] },
        { kind: 'exclude', select: { hosts: ['c'] } },
      ],
    });
    expect(issues).toEqual([
      expect.objectContaining({ kind: 'rule-matches-nothing', ruleIndex: 1, hosts: [] }),
      expect.objectContaining({ kind: 'rule-matches-nothing', ruleIndex: 2, hosts: ['c'] }),
    ]);
  });

  it('accepts two excludes removing the same pair', () => {
    const set = computeHostPairs(
      inventory({
        hosts,
        rules: [
          { kind: 'mesh', select: { sites: ['s1'] } },
          { kind: 'exclude', pairs: [['a', 'b']] },
          { kind: 'exclude', select: { hosts: ['a'] } },
        ],
      }),
    );
    expect(keys(set)).toEqual(['b~c', 'b~d', 'c~d']);
  });

  it('removes pairs before checking their addresses, so an excluded pair may share no family', () => {
    const set = computeHostPairs(
      inventory({
        hosts: [host('v4', { v4: ['198.51.100.1'] }), host('v6', { v6: ['2001:db8::2'] }), dualHost('ds', 3)],
        rules: [
          { kind: 'mesh', select: { sites: ['s1'] } },
          { kind: 'exclude', pairs: [['v4', 'v6']] },
        ],
      }),
    );
    expect(keys(set)).toEqual(['ds~v4', 'ds~v6']);
  });

  it('reports the empty mesh when excludes remove every pair', () => {
    const issues = issuesOf({
      hosts: hosts.slice(0, 2),
      rules: [
        { kind: 'mesh', select: { sites: ['s1'] } },
        { kind: 'exclude', pairs: [['a', 'b']] },
      ],
    });
    expect(issues).toEqual([expect.objectContaining({ kind: 'empty-mesh', hosts: [] })]);
    expect(issues[0]!.ruleIndex).toBeUndefined();
  });
});

describe('addresses per pair', () => {
  it('gives one endpoint per shared family, ipv4 first, using each host’s first address of the family', () => {
    const set = computeHostPairs(
      inventory({
        hosts: [
          host('a', { v4: ['198.51.100.1', '198.51.100.11'], v6: ['2001:db8::1', '2001:db8::11'] }),
          host('b', { v6: ['2001:db8::2'], v4: ['198.51.100.2'] }),
          host('c', { v4: ['203.0.113.3'] }),
        ],
        rules: [{ kind: 'mesh', select: { sites: ['s1'] } }],
      }),
    );
    expect(findPair(set, 'a', 'b')!.families).toEqual([
      { family: 'ipv4', a: '198.51.100.1', b: '198.51.100.2' },
      { family: 'ipv6', a: '2001:db8::1', b: '2001:db8::2' },
    ]);
    expect(findPair(set, 'c', 'a')!.families).toEqual([{ family: 'ipv4', a: '198.51.100.1', b: '203.0.113.3' }]);
  });

  it('orients endpoints by the sorted pair, whatever the rule’s order', () => {
    const set = computeHostPairs(
      inventory({
        hosts: [dualHost('z', 26), dualHost('m', 13)],
        rules: [{ kind: 'pairs', pairs: [['z', 'm']] }],
      }),
    );
    expect(set.pairs[0]).toMatchObject({ a: 'm', b: 'z' });
    expect(set.pairs[0]!.families[0]).toEqual({ family: 'ipv4', a: '198.51.100.13', b: '198.51.100.26' });
  });

  it('uses each host’s first address on the rule’s network, skipping a family one host lacks there', () => {
    const set = computeHostPairs(
      inventory({
        hosts: [
          host('a', {
            v4: [{ address: '198.51.100.1', network: 'lan' }, { address: '203.0.113.1', network: 'wan' }, { address: '203.0.113.101', network: 'wan' }],
            v6: [{ address: '2001:db8::1', network: 'wan' }],
          }),
          host('b', {
            v4: [{ address: '203.0.113.2', network: 'wan' }, { address: '198.51.100.2', network: 'lan' }],
            v6: [{ address: '2001:db8::2', network: 'lan' }],
          }),
        ],
        rules: [{ kind: 'pairs', pairs: [['a', 'b']], network: 'wan' }],
      }),
    );
    expect(set.pairs[0]!.families).toEqual([{ family: 'ipv4', a: '203.0.113.1', b: '203.0.113.2' }]);
  });

  it('lets the first rule decide the network when two rules produce the same pair', () => {
    const a = host('a', { v4: [{ address: '198.51.100.1', network: 'lan' }, { address: '203.0.113.1', network: 'wan' }] });
    const b = host('b', { v4: [{ address: '198.51.100.2', network: 'lan' }, { address: '203.0.113.2', network: 'wan' }] });
    const wanFirst = computeHostPairs(
      inventory({
        hosts: [a, b],
        rules: [
          { kind: 'pairs', pairs: [['a', 'b']], network: 'wan' },
          { kind: 'mesh', select: { sites: ['s1'] }, network: 'lan' },
        ],
      }),
    );
    expect(wanFirst.pairs[0]!.families[0]).toMatchObject({ a: '203.0.113.1', b: '203.0.113.2' });
    const lanFirst = computeHostPairs(
      inventory({
        hosts: [a, b],
        rules: [
          { kind: 'mesh', select: { sites: ['s1'] }, network: 'lan' },
          { kind: 'pairs', pairs: [['a', 'b']], network: 'wan' },
        ],
      }),
    );
    expect(lanFirst.pairs[0]!.families[0]).toMatchObject({ a: '198.51.100.1', b: '198.51.100.2' });
  });

  it('reports a pair with no family on the rule’s network, naming the rule and both hosts', () => {
    const issues = issuesOf({
      hosts: [
        host('a', { v4: [{ address: '198.51.100.1', network: 'lan' }] }),
        host('b', { v4: [{ address: '198.51.100.2', network: 'lan' }], v6: [{ address: '2001:db8::2', network: 'wan' }] }),
        dualHost('c', 3),
      ],
      rules: [
        { kind: 'pairs', pairs: [['a', 'c']] },
        { kind: 'pairs', pairs: [['a', 'b']], network: 'wan' },
      ],
    });
    expect(issues).toEqual([expect.objectContaining({ kind: 'no-address-on-network', ruleIndex: 1, hosts: ['a', 'b'] })]);
    expect(issues[0]!.message).toContain('"wan"');
  });

  it('reports a pair whose hosts share no address family', () => {
    const issues = issuesOf({
      hosts: [host('v4', { v4: ['198.51.100.1'] }), host('v6', { v6: ['2001:db8::2'] }), dualHost('ds', 3)],
      rules: [{ kind: 'mesh', select: { sites: ['s1'] } }],
    });
    expect(issues).toEqual([expect.objectContaining({ kind: 'no-shared-family', ruleIndex: 0, hosts: ['v4', 'v6'] })]);
    expect(issues[0]!.message).toContain('ipv4 vs ipv6');
  });

  it('caps per-pair problems per rule and summarises the rest (a typo’d network on a big mesh)', () => {
    const hosts = Array.from({ length: 8 }, (_, n) => dualHost(`h${n}`, n + 1)); // 28 pairs
    const { set, issues } = analyseHostPairs(inventory({ hosts, rules: [{ kind: 'mesh', select: { sites: ['s1'] }, network: 'wna' }] }));
    expect(set.pairs).toEqual([]);
    expect(kinds(issues)).toEqual([...Array(11).fill('no-address-on-network'), 'empty-mesh']);
    expect(issues[10]!.message).toContain('18 more pair(s)');
  });
});

describe('enforcement per pair', () => {
  it('orders levels off < use < require', () => {
    expect(weakerEnforcement('require', 'use')).toBe('use');
    expect(weakerEnforcement('use', 'off')).toBe('off');
    expect(weakerEnforcement('require', 'require')).toBe('require');
    expect(resolvePairEnforcement('require', 'require', 'off')).toBe('off');
    expect(resolvePairEnforcement('use', 'off', undefined)).toBe('off');
  });

  const hosts = [
    dualHost('a1', 1, { site: 'a' }),
    dualHost('a2', 2, { site: 'a' }),
    dualHost('b1', 3, { site: 'b' }),
    dualHost('c1', 4, { site: 'c' }),
  ];
  const levels = (spec: Omit<InventorySpec, 'hosts' | 'rules'>) =>
    Object.fromEntries(
      computeHostPairs(inventory({ hosts, rules: [{ kind: 'mesh', select: { sites: ['a', 'b', 'c'] } }], ...spec })).pairs.map((p) => [p.key, p.enforcement]),
    );

  it('uses the mesh level when no site or pair overrides it', () => {
    expect(new Set(Object.values(levels({ enforcement: 'require' })))).toEqual(new Set(['require']));
  });

  it('takes the weaker end: a site moved up to require keeps use with sites still on the mesh level', () => {
    expect(levels({ enforcement: 'use', sites: [site('a', 'require'), site('b'), site('c')] })).toEqual({
      'a1~a2': 'require',
      'a1~b1': 'use',
      'a1~c1': 'use',
      'a2~b1': 'use',
      'a2~c1': 'use',
      'b1~c1': 'use',
    });
  });

  it('tightens a cross-site pair once both sites are on require', () => {
    const l = levels({ enforcement: 'use', sites: [site('a', 'require'), site('b', 'require'), site('c')] });
    expect([l['a1~b1'], l['a1~c1'], l['b1~c1']]).toEqual(['require', 'use', 'use']);
  });

  it('lets a site below the mesh level weaken its pairs (a site switched off)', () => {
    const l = levels({ enforcement: 'require', sites: [site('a'), site('b', 'off'), site('c', 'use')] });
    expect([l['a1~a2'], l['a1~b1'], l['a1~c1'], l['b1~c1']]).toEqual(['require', 'off', 'use', 'off']);
  });

  it('lets a pair override win over both sites, either way', () => {
    const l = levels({
      enforcement: 'use',
      sites: [site('a', 'require'), site('b'), site('c')],
      pairOverrides: [
        { hosts: ['b1', 'a1'], enforcement: 'require' }, // pilot one cross-site pair
        { hosts: ['a1', 'a2'], enforcement: 'off' },
      ],
    });
    expect([l['a1~b1'], l['a1~a2'], l['a2~b1']]).toEqual(['require', 'off', 'use']);
  });

  it('reports overrides naming no pair of the mesh, an unknown host, a self pair or a repeated pair', () => {
    const issues = issuesOf({
      hosts,
      rules: [{ kind: 'mesh', select: { sites: ['a'] } }],
      pairOverrides: [
        { hosts: ['a1', 'b1'], enforcement: 'require' },
        { hosts: ['a1', 'zz'], enforcement: 'off' },
        { hosts: ['a2', 'a2'], enforcement: 'off' },
        { hosts: ['a1', 'a2'], enforcement: 'off' },
        { hosts: ['a2', 'a1'], enforcement: 'use' },
      ],
    });
    expect(issues).toEqual([
      expect.objectContaining({ kind: 'unknown-host', overrideIndex: 1, hosts: ['zz'] }),
      expect.objectContaining({ kind: 'self-pair', overrideIndex: 2, hosts: ['a2'] }),
      expect.objectContaining({ kind: 'duplicate-override', overrideIndex: 4, hosts: ['a2', 'a1'] }),
      expect.objectContaining({ kind: 'override-matches-no-pair', overrideIndex: 0, hosts: ['a1', 'b1'] }),
    ]);
  });
});

describe('errors', () => {
  it('collects every problem into one TopologyError whose fields repeat the first', () => {
    let err: TopologyError | undefined;
    try {
      computeHostPairs(
        inventory({
          hosts: [dualHost('a', 1), dualHost('a', 2), dualHost('b', 3)],
          rules: [{ kind: 'pairs', pairs: [['a', 'q']] }],
        }),
      );
    } catch (e) {
      err = e as TopologyError;
    }
    expect(err).toBeInstanceOf(TopologyError);
    expect(kinds(err!.issues)).toEqual(['duplicate-host', 'unknown-host', 'empty-mesh']);
    expect(err!.kind).toBe('duplicate-host');
    expect(err!.hosts).toEqual(['a']);
    expect(err!.ruleIndex).toBeUndefined();
    expect(err!.message).toMatch(/"a" is used more than once \(and 2 more problem/);
    expect(err!.issues[1]).toMatchObject({ ruleIndex: 0, hosts: ['q'] });
  });

  it('reports an inventory with no rules as an empty mesh', () => {
    expect(kinds(issuesOf({ hosts: [dualHost('a', 1), dualHost('b', 2)], rules: [] }))).toEqual(['empty-mesh']);
  });

  it('still returns the pairs it could build alongside the issues', () => {
    const { set, issues } = analyseHostPairs(
      inventory({
        hosts: [dualHost('a', 1), dualHost('b', 2), host('c', { v6: ['2001:db8::3'] }), host('d', { v4: ['198.51.100.4'] })],
        rules: [{ kind: 'mesh', select: { sites: ['s1'] } }],
      }),
    );
    expect(keys(set)).toEqual(['a~b', 'a~c', 'a~d', 'b~c', 'b~d']);
    expect(issues).toEqual([expect.objectContaining({ kind: 'no-shared-family', hosts: ['c', 'd'] })]);
  });
});

describe('per-host index', () => {
  const set = computeHostPairs(
    inventory({
      hosts: [dualHost('c', 3), dualHost('a', 1), dualHost('d', 4), dualHost('b', 2), dualHost('idle', 5, { site: 's2' })],
      rules: [{ kind: 'mesh', select: { sites: ['s1'] } }],
    }),
  );

  it('lists a host’s pairs sorted by peer, as the very objects of `pairs`', () => {
    const c = pairsForHost(set, 'c');
    expect(c.map((p) => peerOf(p, 'c'))).toEqual(['a', 'b', 'd']);
    for (const p of c) expect(set.pairs).toContain(p);
    expect(c[0]).toBe(set.pairs.find((p) => p.key === 'a~c'));
  });

  it('returns an empty list for an inventory host with no pair, and throws for an unknown name', () => {
    expect(pairsForHost(set, 'idle')).toEqual([]);
    expect(() => pairsForHost(set, 'nope')).toThrow(UnknownHostError);
    expect(set.hostNames).toEqual(['a', 'b', 'c', 'd', 'idle']);
  });

  it('finds a pair in either order, and nothing for non-pairs', () => {
    expect(findPair(set, 'd', 'b')!.key).toBe('b~d');
    expect(findPair(set, 'b', 'd')).toBe(findPair(set, 'd', 'b'));
    expect(findPair(set, 'a', 'idle')).toBeUndefined();
    expect(findPair(set, 'a', 'a')).toBeUndefined();
  });
});

describe('pair codes', () => {
  it('decode back to (pair, rule) exactly, up to codes near 2^53', async () => {
    const { exactQuotient } = await import('../../components/topology/pair-code-buffer.js');
    const d = 99_991;
    for (const q of [0, 1, 12_345, 2 ** 33 + 7, 90_000_000_000]) {
      for (const r of [0, 1, d - 1]) expect(exactQuotient(q * d + r, d)).toBe(q);
    }
    expect(exactQuotient(2 ** 53 - 1, 3)).toBe(3_002_399_751_580_330); // remainder 1
  });
});
