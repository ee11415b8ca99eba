// File paths and the non-swanctl files: charon drop-in and sysctl.
import { monitorPaths } from '../../components/operations/monitor-script.js';
import { rolloutGatePath } from '../../components/operations/rollout-gate-script.js';
import { describe, expect, it } from 'vitest';
import type { Host } from '../../components/inventory/model.js';
import {
  CHARON_CONF_PATH,
  espInnerMtu,
  espOverheadBytes,
  meshFilePaths,
  renderHostConfig,
  tcpMss,
} from '../../components/render/index.js';
import { parseConf, val } from './render-conf-parser.js';
import { fullMesh, mkHost, mkInventory, mkMesh, mkSite, pairsOf } from './render-fixtures.js';

const alpha = mkHost('alpha', 1);
const bravo = mkHost('bravo', 2, { site: 'dc2' });
const charlie = mkHost('charlie', 3, { site: 'dc3', v6: false });
const HOSTS = [alpha, bravo, charlie];

function files(host: Host, mesh: Parameters<typeof mkInventory>[1] = {}, sites = [mkSite('dc1'), mkSite('dc2', 1400), mkSite('dc3', 1500)]) {
  return renderHostConfig({ inventory: mkInventory(HOSTS, mesh, sites), host, pairs: pairsOf(fullMesh(HOSTS), host.name) });
}

/** sysctl.d lines without comments, as key → value. */
function sysctl(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const [k, v] = line.split('=').map((x) => x.trim());
    out.set(k!, v!);
  }
  return out;
}

describe('meshFilePaths', () => {
  it('puts every file at an ipsec-mesh-owned path where strongSwan and systemd read it', () => {
    const p = meshFilePaths(mkMesh(), alpha);
    expect(p).toMatchObject({
      swanctlConf: '/etc/swanctl/conf.d/ipsec-mesh_prod.conf',
      pskSecrets: '/etc/swanctl/conf.d/ipsec-mesh_prod_secrets.conf',
      caCertGlob: '/etc/swanctl/x509ca/ipsec-mesh_prod_ca_*.pem',
      hostCert: '/etc/swanctl/x509/ipsec-mesh_prod_alpha.pem',
      hostKey: '/etc/swanctl/private/ipsec-mesh_prod_alpha.key',
      charonConf: '/etc/strongswan.d/ipsec-mesh.conf',
      charonLog: '/var/log/ipsec-mesh-charon.log',
      sysctlConf: '/etc/sysctl.d/60-ipsec-mesh_prod.conf',
    });
    expect(p.caCert('ca1')).toBe('/etc/swanctl/x509ca/ipsec-mesh_prod_ca_ca1.pem');
    expect(p.caCert('ca2')).not.toBe(p.caCert('ca1'));
    for (const path of [p.swanctlConf, p.pskSecrets, p.hostCert, p.hostKey, p.charonConf, p.sysctlConf, p.caCert('x')]) {
      expect(path.split('/').pop()).toMatch(/ipsec-mesh/);
    }
    // swanctl reads conf.d/*.conf; systemd-sysctl reads *.conf.
    expect(p.swanctlConf.endsWith('.conf') && p.pskSecrets.endsWith('.conf') && p.sysctlConf.endsWith('.conf')).toBe(true);
    expect(() => p.caCert('../x')).toThrow(expect.objectContaining({ code: 'bad-name' }));
  });

  it('cannot collide between meshes whose names share a prefix', () => {
    const a = meshFilePaths(mkMesh({ name: 'a' }), mkHost('b-c', 1));
    const b = meshFilePaths(mkMesh({ name: 'a-b' }), mkHost('c', 1));
    expect(a.hostCert).not.toBe(b.hostCert);
    // mesh "a-secrets"'s connections vs mesh "a"'s secrets
    expect(meshFilePaths(mkMesh({ name: 'a-secrets' }), alpha).swanctlConf).not.toBe(meshFilePaths(mkMesh({ name: 'a' }), alpha).pskSecrets);
  });
});

describe('renderHostConfig files', () => {
  it('returns swanctl, charon, sysctl and logrotate files: non-secret, 0644, at the mesh paths', () => {
    const p = meshFilePaths(mkMesh(), alpha);
    const f = files(alpha);
    const monitor = monitorPaths(mkMesh().name);
    expect(f.map((x) => x.path)).toEqual([p.swanctlConf, p.charonConf, p.sysctlConf, p.logrotateConf, p.backstopNft, p.backstopUnit, monitor.script, monitor.service, rolloutGatePath(mkMesh().name)]);
    for (const x of f) {
      expect(x.mode).toBe(0o644);
      expect(x.secret).toBe(false);
      expect(x.content.endsWith('\n')).toBe(true);
    }
  });

  it('sysctl: xfrm GC thresholds (IPv6 only where the host has IPv6), PMTU probing', () => {
    const dual = sysctl(files(alpha, { xfrmGcThresh: 65_536 })[2]!.content);
    expect(dual.get('net.ipv4.xfrm4_gc_thresh')).toBe('65536');
    expect(dual.get('net.ipv6.xfrm6_gc_thresh')).toBe('65536');
    expect(dual.get('net.ipv4.tcp_mtu_probing')).toBe('1');
    const v4 = sysctl(files(charlie)[2]!.content);
    expect(v4.get('net.ipv4.xfrm4_gc_thresh')).toBe('32768');
    expect(v4.has('net.ipv6.xfrm6_gc_thresh')).toBe(false);
    const v6only = renderHostConfig({ inventory: mkInventory([...HOSTS, mkHost('delta', 4, { v4: false })]), host: mkHost('delta', 4, { v4: false }), pairs: [] });
    const v6 = sysctl(v6only[2]!.content);
    expect(v6.get('net.ipv6.xfrm6_gc_thresh')).toBe('32768');
    expect(v6.get('net.ipv4.xfrm4_gc_thresh')).toBe('32768');
  });

  it('sysctl comments give the inner MTU and MSS per peer site, from the ESP overhead', () => {
    const text = files(alpha)[2]!.content;
    const p = 'aes256gcm16-ecp384';
    expect(text).toContain(`IPv4: up to ${espOverheadBytes(p, 'transport', false, 'ipv4')} bytes`);
    const v4 = espInnerMtu(1400, p, 'transport', false, 'ipv4');
    const v6 = espInnerMtu(1400, p, 'transport', false, 'ipv6');
    expect(text).toContain(`to site dc2 (link MTU 1400): IPv4 MTU ${v4} / MSS ${tcpMss(v4, 'ipv4')}, IPv6 MTU ${v6} / MSS ${tcpMss(v6, 'ipv6')}`);
    // charlie is IPv4-only: only the IPv4 figure towards dc3.
    expect(text).toMatch(/to site dc3 \(link MTU 1500\): IPv4 MTU 1466 \/ MSS 1426\n/);
  });

  it('charon drop-in: one host-wide charon section with timing, routes, fragment size and a file log', () => {
    const f = files(alpha);
    expect(f[1]!.path).toBe(CHARON_CONF_PATH);
    const charon = parseConf(f[1]!.content).sections.get('charon')!;
    expect(val(charon, 'make_before_break')).toBe('yes');
    expect(val(charon, 'retransmit_tries')).toBe('4');
    expect(val(charon, 'install_routes')).toBe('no');
    expect(val(charon, 'fragment_size')).toBe('1280');
    expect(val(charon, 'filelog.ipsec-mesh.path')).toBe('/var/log/ipsec-mesh-charon.log');
    expect(val(charon, 'syslog.daemon.default')).toBe('1');
    // Tunnel mode keeps strongSwan's route handling; a link below 1280 shrinks IKE fragments.
    const tunnel = parseConf(files(alpha, { mode: 'tunnel' }, [mkSite('dc1'), mkSite('dc2', 1200), mkSite('dc3')])[1]!.content).sections.get('charon')!;
    expect(tunnel.values.has('install_routes')).toBe(false);
    expect(val(tunnel, 'fragment_size')).toBe('1200');
  });

  it('does not depend on the mesh name: two meshes on one host render the same charon drop-in', () => {
    const a = renderHostConfig({ inventory: mkInventory(HOSTS, { name: 'one' }), host: alpha, pairs: pairsOf(fullMesh(HOSTS), 'alpha') })[1]!;
    const b = renderHostConfig({ inventory: mkInventory(HOSTS, { name: 'two' }), host: alpha, pairs: pairsOf(fullMesh(HOSTS), 'alpha') })[1]!;
    expect(a).toEqual(b);
  });
});
