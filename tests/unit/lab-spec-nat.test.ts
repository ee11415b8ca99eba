import { describe, expect, it } from 'vitest';
import { type LabSpec, LabSpecError, missingPrerequisites, natRuleset, resolveLabSpec } from '../../lab/netns/index.js';

// A lab site behind the router's 1:1 NAT (LabSiteSpec.nat): validation and resolution.
// Pure: nothing here touches the machine's network.

const NAT_SPEC: LabSpec = {
  name: 'nat-unit',
  sites: [
    { name: 'east', ipv4: '198.51.100.0/26', ipv6: '2001:db8:e::/64' },
    { name: 'cloud', ipv4: '198.51.100.128/25', ipv6: '2001:db8:c::/64', nat: { ipv4: '203.0.113.128/25', dropEsp: true } },
    { name: 'west', ipv4: '203.0.113.0/26' },
  ],
  hosts: [
    { name: 'e1', site: 'east' },
    { name: 'c1', site: 'cloud', ipv4: ['198.51.100.140', '198.51.100.141'] },
    { name: 'c2', site: 'cloud' },
    { name: 'c3', site: 'cloud', ipv4: [] },
  ],
  // The default operator link (198.51.100.252/30) lies inside the cloud site.
  operator: { ipv4: '198.51.100.64/30' },
};

/** The issues resolveLabSpec reports for `spec`, as `path: message`. */
function issuesOf(spec: unknown): string[] {
  try {
    resolveLabSpec(spec);
  } catch (e) {
    expect(e).toBeInstanceOf(LabSpecError);
    return (e as LabSpecError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('the spec was accepted');
}

/** NAT_SPEC with the cloud site replaced (its ipv6 kept unless given) and one host per site. */
function withCloud(cloud: Record<string, unknown>): unknown {
  return {
    ...NAT_SPEC,
    sites: [NAT_SPEC.sites[0], { name: 'cloud', ipv6: '2001:db8:c::/64', ...cloud }, NAT_SPEC.sites[2]],
    hosts: [
      { name: 'e1', site: 'east' },
      { name: 'c1', site: 'cloud' },
    ],
  };
}

describe('lab spec: a site behind 1:1 NAT', () => {
  it('resolves the public prefix and one public address per private IPv4 address, by offset', () => {
    const r = resolveLabSpec(NAT_SPEC);
    expect(r.sites.map((s) => [s.name, s.nat])).toEqual([
      ['east', undefined],
      ['cloud', { ipv4: { cidr: '203.0.113.128/25', prefixLength: 25 }, dropEsp: true }],
      ['west', undefined],
    ]);
    expect(r.hosts.map((h) => [h.name, h.ipv4, h.publicIpv4, h.ipv6])).toEqual([
      ['e1', ['198.51.100.10'], [], ['2001:db8:e::10']],
      ['c1', ['198.51.100.140', '198.51.100.141'], ['203.0.113.140', '203.0.113.141'], ['2001:db8:c::10']],
      ['c2', ['198.51.100.139'], ['203.0.113.139'], ['2001:db8:c::11']],
      ['c3', [], [], ['2001:db8:c::12']],
    ]);
  });

  it('defaults dropEsp to false and leaves sites without nat alone', () => {
    const r = resolveLabSpec(withCloud({ ipv4: '198.51.100.128/25', nat: { ipv4: '203.0.113.128/25' } }));
    expect(r.sites[1]!.nat).toEqual({ ipv4: { cidr: '203.0.113.128/25', prefixLength: 25 }, dropEsp: false });
    const plain = resolveLabSpec(withCloud({ ipv4: '198.51.100.128/25' }));
    expect(plain.sites[1]!.nat).toBeUndefined();
    expect(plain.hosts.map((h) => [h.name, h.ipv4, h.publicIpv4])).toEqual([
      ['e1', ['198.51.100.10'], []],
      ['c1', ['198.51.100.138'], []],
    ]);
  });

  it('rejects a public prefix whose length differs from the site subnet', () => {
    expect(issuesOf(withCloud({ ipv4: '198.51.100.128/25', nat: { ipv4: '203.0.113.128/26' } }))).toEqual([
      "sites[1].nat.ipv4: 203.0.113.128/26 must have the prefix length of the site's ipv4 subnet 198.51.100.128/25 (/25)",
    ]);
  });

  it('rejects a public prefix outside the lab ranges, and 192.0.2.0/24 above all', () => {
    expect(issuesOf(withCloud({ ipv4: '198.51.100.128/25', nat: { ipv4: '192.0.2.128/25' } }))).toEqual([
      'sites[1].nat.ipv4: "192.0.2.128/25" is outside the lab ranges (198.51.100.0/24, 203.0.113.0/24)',
    ]);
    expect(issuesOf(withCloud({ ipv4: '198.51.100.128/25', nat: { ipv4: '10.0.0.128/25' } }))).toEqual([
      'sites[1].nat.ipv4: "10.0.0.128/25" is outside the lab ranges (198.51.100.0/24, 203.0.113.0/24)',
    ]);
    expect(issuesOf(withCloud({ ipv4: '198.51.100.128/25', nat: { ipv4: '2001:db8:9::/64' } }))).toEqual([
      'sites[1].nat.ipv4: "2001:db8:9::/64" is not an IPv4 subnet',
    ]);
  });

  it('rejects a public prefix overlapping a site subnet, the operator link or another public prefix', () => {
    // Overlaps west (203.0.113.0/26).
    expect(issuesOf(withCloud({ ipv4: '198.51.100.128/25', nat: { ipv4: '203.0.113.0/25' } }))).toEqual([
      'sites[2].ipv4: 203.0.113.0/26 overlaps 203.0.113.0/25 (sites[1].nat.ipv4)',
    ]);
    // Overlaps its own private side.
    expect(issuesOf(withCloud({ ipv4: '198.51.100.128/25', nat: { ipv4: '198.51.100.128/25' } }))).toEqual([
      'sites[1].nat.ipv4: 198.51.100.128/25 overlaps 198.51.100.128/25 (sites[1].ipv4)',
    ]);
    // Overlaps the operator link.
    expect(
      issuesOf({
        name: 'nat-op',
        sites: [{ name: 'cloud', ipv4: '203.0.113.0/26', nat: { ipv4: '198.51.100.192/26' } }],
        hosts: [{ name: 'c1', site: 'cloud' }],
      }),
    ).toEqual(['operator.ipv4: 198.51.100.252/30 overlaps 198.51.100.192/26 (sites[0].nat.ipv4)']);
    // Two sites claiming the same public prefix.
    expect(
      issuesOf({
        name: 'nat-twice',
        sites: [
          { name: 'a', ipv4: '198.51.100.0/26', nat: { ipv4: '203.0.113.64/26' } },
          { name: 'b', ipv4: '198.51.100.64/26', nat: { ipv4: '203.0.113.64/26' } },
        ],
        hosts: [{ name: 'h', site: 'a' }],
      }),
    ).toEqual(['sites[1].nat.ipv4: 203.0.113.64/26 overlaps 203.0.113.64/26 (sites[0].nat.ipv4)']);
  });

  it('rejects nat on a site without an ipv4 subnet, and unknown nat keys', () => {
    expect(issuesOf(withCloud({ nat: { ipv4: '203.0.113.128/25' } }))).toEqual([
      "sites[1].nat: nat needs the site's ipv4 subnet (the private side)",
    ]);
    expect(issuesOf(withCloud({ ipv4: '198.51.100.128/25', nat: { ipv4: '203.0.113.128/25', ipv6: '2001:db8:9::/64' } }))).toEqual([
      'sites[1].nat: Unrecognized key: "ipv6"',
    ]);
    expect(issuesOf(withCloud({ ipv4: '198.51.100.128/25', nat: { dropEsp: 'yes' } }))).toEqual([
      'sites[1].nat.ipv4: Invalid input: expected string, received undefined',
      'sites[1].nat.dropEsp: Invalid input: expected boolean, received string',
    ]);
  });

  it('generates per-host DNAT and SNAT rules and the ESP drop chain for the router', () => {
    const r = resolveLabSpec(NAT_SPEC);
    const text = natRuleset(r, r.sites[1]!);
    expect(text).toContain('table inet imlab_nat_site1 {');
    expect(text).toContain('ip daddr 203.0.113.140 dnat ip to 198.51.100.140 comment "c1"');
    expect(text).toContain('ip daddr 203.0.113.141 dnat ip to 198.51.100.141 comment "c1"');
    expect(text).toContain('ip daddr 203.0.113.139 dnat ip to 198.51.100.139 comment "c2"');
    expect(text).toContain('oifname != "site1" ip saddr 198.51.100.140 snat ip to 203.0.113.140 comment "c1"');
    expect(text).toContain('iifname "site1" meta l4proto esp counter name "esp_dropped" drop');
    expect(text).toContain('oifname "site1" meta l4proto esp counter name "esp_dropped" drop');
    expect(text).not.toMatch(/192\.0\.2\./);
    expect(natRuleset(r, r.sites[0]!)).toBe('');
    const noDrop = resolveLabSpec(withCloud({ ipv4: '198.51.100.128/25', nat: { ipv4: '203.0.113.128/25' } }));
    expect(natRuleset(noDrop, noDrop.sites[1]!)).not.toContain('esp');
  });

  it('names nft as a prerequisite only for a spec with a NAT site', () => {
    const mentionsNft = (m: readonly string[]): boolean => m.some((x) => x.startsWith('nft '));
    // On this machine nft is installed, so the check is that it is looked for at all: the
    // list for a NAT spec is never shorter, and a plain spec never names nft.
    expect(mentionsNft(missingPrerequisites({ sites: [{}] }))).toBe(false);
    expect(missingPrerequisites(NAT_SPEC).length).toBeGreaterThanOrEqual(missingPrerequisites({ sites: [{}] }).length);
    expect(() => missingPrerequisites({ sites: 'nonsense' } as never)).not.toThrow();
  });
});
