import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ikeIdentityKind,
  InventoryError,
  loadInventoryFile,
  loadInventoryYaml,
  matchesSelector,
  parseInventory,
  selectHosts,
  type Inventory,
  type InventoryInput,
} from '../../components/inventory/index.js';
import { HOST_KEY_1, HOST_KEY_2, inventoryYaml } from './fixtures/inventory/base-inventory.js';

function thrown(f: () => unknown): InventoryError {
  try {
    f();
  } catch (e) {
    if (e instanceof InventoryError) return e;
    throw e;
  }
  throw new Error('expected an InventoryError');
}

const MINIMAL = `
mesh:
  name: m
sites:
  - name: s1
hosts:
  - name: a
    site: s1
    addresses: { ipv4: [198.51.100.1] }
  - name: b
    site: s1
    addresses: { ipv6: ["2001:db8::2"] }
rules:
  - mesh: { sites: [s1] }
`;

describe('defaults', () => {
  it('fills every default of a minimal inventory', () => {
    const inv = loadInventoryYaml(MINIMAL, 'min.yaml');
    const expected: Inventory = {
      source: 'min.yaml',
      mesh: {
        name: 'm',
        layout: 'per-peer',
        compactSelectors: 'peer-addresses',
        auth: 'certificate',
        quantumResistance: 'required',
        ppkGeneration: 0,
        mode: 'transport',
        enforcement: 'require',
        pairOverrides: [],
        proposals: ['aes256gcm16-prfsha384-ecp384'],
        espProposals: ['aes256gcm16-ecp384'],
        lifetimes: { ikeRekeySeconds: 14_400, childRekeySeconds: 3_600, childRekeyBytes: 50_000_000_000, dpdDelaySeconds: 30 },
        bypass: [],
        xfrmGcThresh: 32_768,
        mssClamp: 'auto',
      },
      sites: [{ name: 's1', mtu: 1500, mtuDeclared: false, prefixes: { ipv4: [], ipv6: [] } }],
      hosts: [
        {
          name: 'a',
          site: 's1',
          addresses: { ipv4: [{ address: '198.51.100.1', network: 'default' }], ipv6: [] },
          ssh: { host: '198.51.100.1', port: 22, user: 'root', insecureAcceptAnyHostKey: false },
          identity: 'a',
          fqdn: 'a',
          tags: [],
        },
        {
          name: 'b',
          site: 's1',
          addresses: { ipv4: [], ipv6: [{ address: '2001:db8::2', network: 'default' }] },
          ssh: { host: '2001:db8::2', port: 22, user: 'root', insecureAcceptAnyHostKey: false },
          identity: 'b',
          fqdn: 'b',
          tags: [],
        },
      ],
      rules: [{ kind: 'mesh', select: { sites: ['s1'] }, index: 0 }],
    };
    expect(inv).toEqual(expected);
  });

  it('derives FQDN and identity from the domain, and lets each be overridden', () => {
    const inv = loadInventoryYaml(
      MINIMAL.replace('name: m', 'name: m\n  domain: example.net').replace(
        "addresses: { ipv6: [\"2001:db8::2\"] }",
        'addresses: { ipv6: ["2001:db8::2"] }\n    fqdn: bee.example.org\n    identity: "C=CH, O=mesh, CN=b"',
      ),
      'x.yaml',
    );
    expect(inv.hosts.map((h) => [h.fqdn, h.identity])).toEqual([
      ['a.s1.example.net', 'a.s1.example.net'],
      ['bee.example.org', 'C=CH, O=mesh, CN=b'],
    ]);
  });

  it('keeps partial lifetimes and fills the rest', () => {
    const inv = loadInventoryYaml(MINIMAL.replace('name: m', 'name: m\n  lifetimes: { childRekeySeconds: 1800 }'), 'x.yaml');
    expect(inv.mesh.lifetimes).toEqual({ ikeRekeySeconds: 14_400, childRekeySeconds: 1_800, childRekeyBytes: 50_000_000_000, dpdDelaySeconds: 30 });
  });

  it('defaults a jump host to port 22 and the ssh user', () => {
    const inv = loadInventoryYaml(
      MINIMAL.replace('addresses: { ipv4: [198.51.100.1] }', 'addresses: { ipv4: [198.51.100.1] }\n    ssh: { user: ops, jumpHost: { host: bastion.example.net } }'),
      'x.yaml',
    );
    expect(inv.hosts[0]!.ssh).toEqual({ host: '198.51.100.1', port: 22, user: 'ops', insecureAcceptAnyHostKey: false, jumpHost: { host: 'bastion.example.net', port: 22, user: 'ops' } });
  });
});

describe('canonicalisation', () => {
  it('writes addresses, prefixes and host keys in canonical form', () => {
    const yaml = `
mesh: { name: m }
sites:
  - { name: s1, prefixes: ["2001:DB8:0:0::/48", 198.51.100.0/24] }
hosts:
  - name: a
    site: s1
    addresses:
      ipv6: ["2001:0DB8:0000:0000:0000:0000:0000:0001", { address: "2001:db8::0:5", network: lan }]
    ssh: { host: "2001:DB8::1", hostKey: "${HOST_KEY_1} root@a" }
  - { name: b, site: s1, addresses: { ipv4: [198.51.100.2], ipv6: ["2001:db8::2"] } }
rules:
  - pairs: [[b, a]]
`;
    const inv = loadInventoryYaml(yaml, 'c.yaml');
    expect(inv.sites[0]!.prefixes).toEqual({ ipv4: ['198.51.100.0/24'], ipv6: ['2001:db8::/48'] });
    expect(inv.hosts[0]!.addresses.ipv6).toEqual([
      { address: '2001:db8::1', network: 'default' },
      { address: '2001:db8::5', network: 'lan' },
    ]);
    expect(inv.hosts[0]!.ssh).toEqual({ host: '2001:db8::1', port: 22, user: 'root', hostKey: HOST_KEY_1, insecureAcceptAnyHostKey: false });
    expect(inv.rules).toEqual([{ kind: 'pairs', pairs: [['b', 'a']], index: 0 }]);
  });
});

describe('typed objects and YAML', () => {
  const typed: InventoryInput = {
    mesh: {
      name: 'dc-mesh',
      domain: 'example.net',
      layout: 'per-peer',
      auth: 'psk',
      mode: 'tunnel',
      enforcement: 'use',
      proposals: ['aes128gcm16-prfsha256-x25519'],
      espProposals: ['aes128gcm16-x25519'],
      lifetimes: { ikeRekeySeconds: 7200 },
      bypass: [{ name: 'vpn', protocol: 'udp', port: 1194, cidrs: ['203.0.113.0/24'] }],
      xfrmGcThresh: 65_536,
      mssClamp: 'off',
      pairOverrides: [{ hosts: ['cp1', 'cp3'], enforcement: 'require' }],
    },
    sites: [
      { name: 'eqiad', mtu: 9000, prefixes: ['198.51.100.0/25', '2001:db8:1::/48'], enforcement: 'off' },
      { name: 'esams', prefixes: ['198.51.100.128/25'] },
    ],
    hosts: [
      { name: 'cp1', site: 'eqiad', cluster: 'text', tags: ['cache'], addresses: { ipv4: ['198.51.100.10'], ipv6: ['2001:db8:1::10'] } },
      {
        name: 'cp2',
        site: 'eqiad',
        cluster: 'text',
        addresses: { ipv4: [{ address: '198.51.100.11', network: 'wan' }, { address: '198.51.100.12', network: 'lan' }] },
        ssh: { host: 'cp2.mgmt.example.net', port: 2222, user: 'deploy', hostKey: HOST_KEY_2 },
      },
      {
        name: 'cp3',
        site: 'esams',
        cluster: 'text',
        tags: ['cache', 'edge'],
        addresses: { ipv4: ['198.51.100.130', { address: '198.51.100.131', network: 'lan' }] },
      },
    ],
    rules: [
      { mesh: { clusters: ['text'], by: 'cluster' } },
      { between: { from: { sites: ['esams'] }, to: { sites: ['eqiad'], tags: ['cache'] } } },
      { pairs: [['cp2', 'cp3']], network: 'lan' },
      { exclude: { pairs: [['cp1', 'cp2']] } },
    ],
  };
  const yaml = `
mesh:
  name: dc-mesh
  domain: example.net
  layout: per-peer
  auth: psk
  mode: tunnel
  enforcement: use
  proposals: [aes128gcm16-prfsha256-x25519]
  espProposals: [aes128gcm16-x25519]
  lifetimes: { ikeRekeySeconds: 7200 }
  bypass: [{ name: vpn, protocol: udp, port: 1194, cidrs: [203.0.113.0/24] }]
  xfrmGcThresh: 65536
  mssClamp: off
  pairOverrides: [{ hosts: [cp1, cp3], enforcement: require }]
sites:
  - { name: eqiad, mtu: 9000, prefixes: [198.51.100.0/25, "2001:db8:1::/48"], enforcement: off }
  - { name: esams, prefixes: [198.51.100.128/25] }
hosts:
  - { name: cp1, site: eqiad, cluster: text, tags: [cache], addresses: { ipv4: [198.51.100.10], ipv6: ["2001:db8:1::10"] } }
  - name: cp2
    site: eqiad
    cluster: text
    addresses:
      ipv4:
        - { address: 198.51.100.11, network: wan }
        - { address: 198.51.100.12, network: lan }
    ssh: { host: cp2.mgmt.example.net, port: 2222, user: deploy, hostKey: "${HOST_KEY_2}" }
  - name: cp3
    site: esams
    cluster: text
    tags: [cache, edge]
    addresses: { ipv4: [198.51.100.130, { address: 198.51.100.131, network: lan }] }
rules:
  - mesh: { clusters: [text], by: cluster }
  - between: { from: { sites: [esams] }, to: { sites: [eqiad], tags: [cache] } }
  - pairs: [[cp2, cp3]]
    network: lan
  - exclude: { pairs: [[cp1, cp2]] }
`;

  it('normalise to the same Inventory', () => {
    const fromObject = parseInventory(typed, 'same');
    const fromYaml = loadInventoryYaml(yaml, 'same');
    expect(fromYaml).toEqual(fromObject);
    expect(fromObject.mesh.enforcement).toBe('use');
    expect(fromObject.mesh.mssClamp).toBe('off');
    expect(fromObject.sites[1]).toMatchObject({ name: 'esams', mtu: 1500, mtuDeclared: false });
    expect(fromObject.sites[0]).toEqual({ name: 'eqiad', mtu: 9000, mtuDeclared: true, prefixes: { ipv4: ['198.51.100.0/25'], ipv6: ['2001:db8:1::/48'] }, enforcement: 'off' });
    expect(fromObject.rules[3]).toEqual({ kind: 'exclude', pairs: [['cp1', 'cp2']], index: 3 });
  });

  it('reports typed-object problems with paths and no lines', () => {
    const bad = { ...typed, hosts: [...typed.hosts, { name: 'cp4', site: 'codfw', addresses: { ipv4: ['198.51.100.132'] } }] };
    const e = thrown(() => parseInventory(bad));
    expect(e.issues).toEqual([{ file: '<object>', path: 'hosts[3].site', message: 'unknown site "codfw" (known: eqiad, esams)' }]);
    expect(e.format()).toBe('<object>: hosts[3].site: unknown site "codfw" (known: eqiad, esams)');
  });

  it('rejects input that is not a mapping', () => {
    expect(thrown(() => parseInventory('mesh: x')).issues).toEqual([
      { file: '<object>', path: '', message: 'the inventory must be a mapping with mesh, sites, hosts and rules, got string "mesh: x"' },
    ]);
  });
});

describe('collected issues', () => {
  const yaml = `mesh:
  name: dc-mesh
  layuot: compact
sites:
  - name: eqiad
    prefixes: [198.51.100.0/25]
hosts:
  - name: cp1
    site: eqiad
    addresses:
      ipv4: [198.51.100.10]
      ipv6: ["2001:db8::zz"]
  - name: cp2
    site: esams
    addresses:
      ipv4: [198.51.100.10]
    ssh:
      port: 0
  - name: cp3
    site: eqiad
    addresses:
      ipv4: [198.51.100.200]
rules:
  - mesh: { clusters: [nope] }
  - pairs: [[cp3, cp3]]
`;

  it('reports every problem at once, in line order, with paths and lines', () => {
    const e = thrown(() => loadInventoryYaml(yaml, 'inventory.yaml'));
    expect(e.format().split('\n')).toEqual([
      'inventory.yaml:3: mesh.layuot: unknown key "layuot" (did you mean "layout"?)',
      'inventory.yaml:12: hosts[0].addresses.ipv6[0]: "2001:db8::zz" is not a valid IPv6 address',
      'inventory.yaml:14: hosts[1].site: unknown site "esams" (known: eqiad)',
      'inventory.yaml:16: hosts[1].addresses.ipv4[0]: address 198.51.100.10 is already used at hosts[0].addresses.ipv4[0] (host "cp1")',
      'inventory.yaml:18: hosts[1].ssh.port: must be at least 1, got number 0',
      'inventory.yaml:22: hosts[2].addresses.ipv4[0]: address 198.51.100.200 is outside the ipv4 prefixes of site "eqiad" (198.51.100.0/25)',
      'inventory.yaml:24: rules[0].mesh.clusters[0]: unknown cluster "nope" (none are defined)',
      'inventory.yaml:25: rules[1].pairs[0]: pairs host "cp3" with itself',
    ]);
    expect(e.message).toContain('inventory.yaml: 8 problems in the inventory');
    expect(e.file).toBe('inventory.yaml');
  });
});

describe('line numbers in block-style YAML', () => {
  const yaml = `# leading comment
mesh:
  name: m

sites:
  - name: s1
    mtu: 100
hosts:
  - name: a
    site: s1
    addresses:
      ipv4:
        # a comment between items
        - 198.51.100.1
        -
          address: 198.51.100.2
          network: Bad_Net
  - name: b
    site: s1
    tags:
      - t
      - t
    addresses: { ipv4: [198.51.100.3] }
rules:
  - mesh:
      sites: [s1]
      bogus: 1
`;
  it('puts each issue on the line of its node', () => {
    const e = thrown(() => loadInventoryYaml(yaml, 'b.yaml'));
    expect(e.issues.map((i) => [i.line, i.path])).toEqual([
      [7, 'sites[0].mtu'],
      [17, 'hosts[0].addresses.ipv4[1].network'],
      [22, 'hosts[1].tags[1]'],
      [27, 'rules[0].mesh.bogus'],
    ]);
  });
});

describe('files', () => {
  it('names a missing file', async () => {
    const missing = join(tmpdir(), 'ipsec-mesh-no-such-inventory.yaml');
    await expect(loadInventoryFile(missing)).rejects.toMatchObject({
      name: 'InventoryError',
      issues: [{ file: missing, path: '', message: 'file not found' }],
    });
  });

  it('loads a file and names it as the source', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'inventory-test-'));
    try {
      const path = join(dir, 'inv.yaml');
      await writeFile(path, inventoryYaml());
      const inv = await loadInventoryFile(path);
      expect(inv.source).toBe(path);
      expect(inv.hosts.map((h) => h.name)).toEqual(['cp1', 'cp2', 'cp3']);
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});

describe('selectors', () => {
  const inv = loadInventoryYaml(inventoryYaml(), 'x.yaml');
  it('AND every criterion and require all tags', () => {
    expect(selectHosts(inv.hosts, { clusters: ['text'] }).map((h) => h.name)).toEqual(['cp1', 'cp3']);
    expect(selectHosts(inv.hosts, { clusters: ['text'], sites: ['eqiad'] }).map((h) => h.name)).toEqual(['cp1']);
    expect(selectHosts(inv.hosts, { tags: ['cache'], hosts: ['cp2', 'cp3'] }).map((h) => h.name)).toEqual(['cp3']);
    expect(matchesSelector(inv.hosts[1]!, { clusters: ['text', 'upload'] })).toBe(true);
    expect(matchesSelector(inv.hosts[0]!, { tags: ['cache', 'edge'] })).toBe(false);
  });
});

describe('IKE identity kinds', () => {
  it('reads identities as strongSwan does; an e-mail identity is fine with PSKs, refused with certificates', () => {
    expect(['C=CH, O=x, CN=a', 'a@example.net', '198.51.100.1', '2001:db8::1', 'a.example.net'].map(ikeIdentityKind)).toEqual(['dn', 'email', 'address', 'address', 'fqdn']);
    const yaml = (auth: string) => inventoryYaml({ mesh: `mesh:\n  name: dc-mesh\n  domain: example.net\n  auth: ${auth}` }).replace('  - name: cp1\n    site: eqiad\n', '  - name: cp1\n    site: eqiad\n    identity: cp1@example.net\n');
    expect(yaml('psk')).toContain('identity: cp1@example.net');
    expect(loadInventoryYaml(yaml('psk'), 'i.yaml').hosts[0]!.identity).toBe('cp1@example.net');
    expect(() => loadInventoryYaml(yaml('certificate'), 'i.yaml')).toThrow(/e-mail address, which the mesh's certificates cannot carry/);
  });
});
