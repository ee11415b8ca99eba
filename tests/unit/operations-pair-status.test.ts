import { describe, expect, it } from 'vitest';
import { parseInventory } from '../../components/inventory/index.js';
import {
  formatPairStatusMatrix,
  pairStatusMatrix,
  parseListSas,
  quantumProtection,
  summarisePairStatus,
  type HostSaReport,
  type IkeSaStatus,
} from '../../components/operations/index.js';
import { computeHostPairs } from '../../components/topology/index.js';

const inventory = parseInventory({
  mesh: { name: 'm', pairOverrides: [{ hosts: ['a', 'c'], enforcement: 'use' }] },
  sites: [{ name: 's1' }],
  hosts: [
    { name: 'a', site: 's1', addresses: { ipv4: ['198.51.100.1'], ipv6: ['2001:db8::1'] } },
    { name: 'b', site: 's1', addresses: { ipv4: ['198.51.100.2'], ipv6: ['2001:db8::2'] } },
    { name: 'c', site: 's1', addresses: { ipv4: ['198.51.100.3'] } },
  ],
  rules: [{ mesh: { sites: ['s1'] } }],
});
const pairs = computeHostPairs(inventory).pairs;

function sa(name: string, local: string, remote: string, state: string, child?: string): IkeSaStatus {
  return {
    name,
    uniqueId: 1,
    version: 2,
    state,
    localHost: local,
    localId: '',
    remoteHost: remote,
    remoteId: '',
    initiator: true,
    proposal: 'AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384',
    children: child === undefined ? [] : [{ name, uniqueId: 2, state: child, mode: 'TRANSPORT', protocol: 'ESP', encap: false, proposal: '', localTs: [], remoteTs: [], raw: {} }],
    raw: {},
  };
}

describe('pairStatusMatrix', () => {
  it('classifies every pair and family from both ends', () => {
    const reports: HostSaReport[] = [
      {
        host: 'a',
        sas: [
          sa('m_b_v4', '198.51.100.1', '198.51.100.2', 'ESTABLISHED', 'INSTALLED'),
          sa('m_b_v6', '2001:db8::1', '2001:db8::2', 'ESTABLISHED', 'INSTALLED'),
          sa('m_c_v4', '198.51.100.1', '198.51.100.3', 'ESTABLISHED'),
          sa('other_b', '198.51.100.1', '198.51.100.2', 'ESTABLISHED', 'INSTALLED'), // not this mesh
        ],
      },
      {
        host: 'b',
        sas: [
          sa('m_a_v4', '198.51.100.2', '198.51.100.1', 'ESTABLISHED', 'INSTALLED'),
          sa('m_a_v6', '2001:db8::2', '2001:db8::1', 'ESTABLISHED'), // lost its half: sad halfling
        ],
      },
      { host: 'c', sas: [sa('m_a_v4', '198.51.100.3', '198.51.100.1', 'ESTABLISHED')] },
    ];
    const rows = pairStatusMatrix(inventory, pairs, reports);
    const byKey = new Map(rows.map((r) => [`${r.pair}/${r.family}`, r]));
    expect([...byKey.keys()]).toEqual(['a~b/ipv4', 'a~b/ipv6', 'a~c/ipv4', 'b~c/ipv4']);
    expect(byKey.get('a~b/ipv4')!.health).toBe('encrypted');
    expect(byKey.get('a~b/ipv6')!.health).toBe('half');
    expect(byKey.get('a~c/ipv4')).toMatchObject({ health: 'ike-only', enforcement: 'use', cleartext: true });
    expect(byKey.get('b~c/ipv4')).toMatchObject({ health: 'down', enforcement: 'require', cleartext: false });
    const summary = summarisePairStatus(rows);
    expect(summary.byHealth).toEqual({ encrypted: 1, half: 1, 'ike-only': 1, down: 1, off: 0 });
    expect(summary.cleartext).toBe(1);
    const table = formatPairStatusMatrix(rows);
    expect(table.split('\n')).toHaveLength(2 + rows.length);
    expect(table).toMatch(/a ↔ c\s+ipv4\s+use\s+ike-only.*CLEARTEXT/);
  });

  it('marks an unreadable host as unreachable, never as healthy', () => {
    const rows = pairStatusMatrix(inventory, pairs, [{ host: 'a', sas: undefined, error: 'timeout' }]);
    expect(rows.every((r) => r.health === 'down' || r.health === 'half')).toBe(true);
    expect(rows.find((r) => r.pair === 'a~b')!.a.ike).toBe('unreachable');
  });
});

describe('parseListSas', () => {
  it('names what protects an IKE_SA against a quantum computer: a PPK in use, an ML-KEM additional key exchange (strongSwan 6), both, neither', () => {
    const sa = (extra: string) =>
      parseListSas(`list-sa event {\n  m_b_v4 {\n    uniqueid = 1\n    state = ESTABLISHED\n    encr-alg = AES_GCM_16\n    encr-keysize = 256\n    prf-alg = PRF_HMAC_SHA2_384\n    dh-group = ECP_384\n${extra}    child-sas {\n    }\n  }\n}\n`)[0]!;
    expect(sa('').proposal).toBe('AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384');
    expect(quantumProtection(sa(''))).toBe('none');
    expect(sa('    ppk = yes\n').proposal).toBe('AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384/PPK');
    expect(quantumProtection(sa('    ppk = yes\n'))).toBe('ppk');
    expect(sa('    ake1 = ML_KEM_768\n').proposal).toBe('AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384/KE1_ML_KEM_768');
    expect(quantumProtection(sa('    ake1 = ML_KEM_768\n'))).toBe('ml-kem');
    expect(quantumProtection(sa('    ake1 = ML_KEM_768\n    ppk = yes\n'))).toBe('ppk+ml-kem');
  });

  it('reads swanctl --list-sas --pretty output as charon 5.9 prints it', () => {
    const text = `list-sa event {
  m_b_v4 {
    uniqueid = 3
    version = 2
    state = ESTABLISHED
    local-host = 198.51.100.1
    local-port = 500
    local-id = a.example.net
    remote-host = 198.51.100.2
    remote-port = 500
    remote-id = b.example.net
    initiator = yes
    encr-alg = AES_GCM_16
    encr-keysize = 256
    prf-alg = PRF_HMAC_SHA2_384
    dh-group = ECP_384
    child-sas {
      m_b_v4-7 {
        name = m_b_v4
        uniqueid = 7
        state = INSTALLED
        mode = TRANSPORT
        protocol = ESP
        encr-alg = AES_GCM_16
        encr-keysize = 256
        dh-group = ECP_384
        local-ts = [
          198.51.100.1/32
        ]
        remote-ts = [
          198.51.100.2/32
        ]
      }
    }
  }
}
list-sas reply {
}
`;
    const [s] = parseListSas(text);
    expect(s).toMatchObject({ name: 'm_b_v4', uniqueId: 3, state: 'ESTABLISHED', localId: 'a.example.net', initiator: true });
    expect(s!.proposal).toBe('AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384');
    expect(s!.children[0]).toMatchObject({ name: 'm_b_v4', state: 'INSTALLED', mode: 'TRANSPORT', localTs: ['198.51.100.1/32'] });
    expect(() => parseListSas('garbage')).toThrow(/cannot parse swanctl output/);
  });
});
