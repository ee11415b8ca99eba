import { existsSync, unlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ExecResult,
  type Lab,
  type LabSpec,
  type ProcessRecord,
  espDropCount,
  natTable,
  routerNetns,
  startLab,
  stopLab,
  waitFor,
} from '../../lab/netns/index.js';
import { run } from '../../lab/netns/run-command.js';
import { expectNothingLeft, labNamespaces, requireLabPrerequisites } from './lab-test-support.js';

// A site behind the lab router's 1:1 NAT with ESP dropped, like a cloud provider: site
// cloud's hosts have private addresses in 198.51.100.128/25 and are reached at the same
// offset in 203.0.113.128/25. IPv6 is routed as is. One lab for the whole file.

const NAME = 'nat-lab';
const SPEC: LabSpec = {
  name: NAME,
  sites: [
    { name: 'east', ipv4: '198.51.100.0/26', ipv6: '2001:db8:e::/64' },
    { name: 'cloud', ipv4: '198.51.100.128/25', ipv6: '2001:db8:c::/64', nat: { ipv4: '203.0.113.128/25', dropEsp: true } },
    { name: 'west', ipv4: '203.0.113.0/26' },
  ],
  hosts: [
    { name: 'e1', site: 'east' },
    { name: 'c1', site: 'cloud', ipv4: ['198.51.100.140'] },
    { name: 'c2', site: 'cloud' },
  ],
  // The default operator link (198.51.100.252/30) lies inside site cloud.
  operator: { ipv4: '198.51.100.64/30' },
};

// Tiny probes, run on the hosts with the system python3 (no nc/socat here). A listener
// touches /run/probe.<port>.ready (the host's private /run) once it is bound.
const PROBE = String.raw`
import json, os, socket, sys, time
mode = sys.argv[1]
fam = lambda a: socket.AF_INET6 if ':' in a else socket.AF_INET
def ready(tag):
    open('/run/probe.%s.ready' % tag, 'w').close()
if mode == 'udp-echo':           # udp-echo FAMILY PORT TIMEOUT: print the first sender, answer it
    f, port, timeout = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    s = socket.socket(socket.AF_INET6 if f == '6' else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('::' if f == '6' else '0.0.0.0', port)); s.settimeout(timeout); ready(port)
    try:
        data, src = s.recvfrom(2048)
        s.sendto(b'echo:' + data, src)
        print(json.dumps({'from': src[0], 'data': data.decode()}))
    except socket.timeout:
        print(json.dumps({'from': None}))
elif mode == 'udp-ask':          # udp-ask DST PORT TIMEOUT: send until answered, print who answered
    dst, port, timeout = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    s = socket.socket(fam(dst), socket.SOCK_DGRAM); s.settimeout(0.2)
    deadline = time.time() + timeout
    out = {'from': None}
    while time.time() < deadline:
        s.sendto(b'ask', (dst, port))
        try:
            data, src = s.recvfrom(2048)
            out = {'from': src[0], 'data': data.decode()}
            break
        except socket.timeout:
            pass
    print(json.dumps(out))
elif mode == 'tcp-banner':       # tcp-banner DST PORT: connect, print the first line the server sends
    dst, port = sys.argv[2], int(sys.argv[3])
    s = socket.create_connection((dst, port), timeout=5)
    print(json.dumps({'peer': s.getpeername()[0], 'banner': s.recv(256).decode(errors='replace').splitlines()[0]}))
elif mode == 'esp-listen':       # esp-listen SECONDS: every IP protocol 50 packet (IPv4 and IPv6) that arrives
    seconds = float(sys.argv[2])
    socks = [socket.socket(socket.AF_INET, socket.SOCK_RAW, 50), socket.socket(socket.AF_INET6, socket.SOCK_RAW, 50)]
    for s in socks: s.setblocking(False)
    ready('esp')
    got, deadline = [], time.time() + seconds
    import select
    while time.time() < deadline:
        r, _, _ = select.select(socks, [], [], max(0, deadline - time.time()))
        for s in r:
            data, src = s.recvfrom(4096)
            mark = data[data.find(b'imlab-esp:') + 10:].split(b'\0')[0].decode(errors='replace') if b'imlab-esp:' in data else ''
            got.append({'from': src[0], 'mark': mark})
    print(json.dumps(sorted(got, key=lambda g: g['mark'])))
elif mode == 'esp-send':         # esp-send DST MARK: one IP protocol 50 packet (fake SPI/seq, then MARK)
    dst, mark = sys.argv[2], sys.argv[3]
    s = socket.socket(fam(dst), socket.SOCK_RAW, 50)
    n = s.sendto(b'\x00\x00\x10\x01' + b'\x00\x00\x00\x01' + b'imlab-esp:' + mark.encode() + b'\0' * 16, (dst, 0))
    print(json.dumps({'sent': n}))
`;

describe('namespace lab: a site behind the router\'s 1:1 NAT, ESP dropped', () => {
  let lab: Lab;
  let started: ProcessRecord[] = [];

  const probe = async (host: string, args: readonly string[]): Promise<unknown> => {
    const r: ExecResult = await lab.exec(host, ['python3', '-c', PROBE, ...args], { check: true, timeoutMs: 20_000 });
    return JSON.parse(r.stdout.trim()) as unknown;
  };
  /** Starts a listener on `host`, waits until it is bound, runs `then`, returns what the listener printed. */
  const withListener = async <T>(host: string, args: readonly string[], tag: string, then: () => Promise<T>): Promise<[unknown, T]> => {
    const readyFile = lab.hostFile(host, `/run/probe.${tag}.ready`);
    if (existsSync(readyFile)) unlinkSync(readyFile);
    const listening = probe(host, args);
    listening.catch(() => undefined); // awaited below; a failure of `then` must not leave it unhandled
    const bound = await waitFor(() => (existsSync(readyFile) ? true : undefined), 10_000);
    if (!bound) throw new Error(`listener ${args.join(' ')} on ${host} did not start: ${String(await listening.catch((e: unknown) => e))}`);
    const result = await then();
    return [await listening, result];
  };
  const ip = (host: string, family: 'ipv4' | 'ipv6' | 'publicIpv4'): string => lab.host(host)[family][0]!;

  beforeAll(async () => {
    requireLabPrerequisites();
    await stopLab(NAME); // a previous run that crashed; our own name only
    // No charon: the probes bind UDP 4500 themselves.
    lab = await startLab(SPEC, { charon: false });
    started = [...lab.processes];
  });

  afterAll(async () => {
    if (lab) await stopLab(NAME).catch(() => undefined);
  });

  it('hands out each cloud host\'s public address next to its private one', () => {
    expect(lab.hosts.map((h) => [h.name, h.ipv4, h.publicIpv4, h.ipv6])).toEqual([
      ['e1', ['198.51.100.10'], [], ['2001:db8:e::10']],
      ['c1', ['198.51.100.140'], ['203.0.113.140'], ['2001:db8:c::10']],
      ['c2', ['198.51.100.139'], ['203.0.113.139'], ['2001:db8:c::11']],
    ]);
  });

  it('keeps the NAT table in the router namespace and nothing in the root namespace', async () => {
    const router = await lab.execNetns(routerNetns(NAME), ['nft', 'list', 'tables'], { check: true });
    expect(router.stdout.trim().split('\n')).toEqual([`table inet ${natTable(1)}`]);
    const root = await run(['nft', 'list', 'tables'], { check: true });
    expect(root.stdout).not.toContain('imlab_nat');
  });

  it('(a) e1 reaches c1 at its public address; c1 sees e1\'s real address, e1 sees replies from c1\'s public address', async () => {
    const [atC1, atE1] = await withListener('c1', ['udp-echo', '4', '7001', '10'], '7001', () => probe('e1', ['udp-ask', ip('c1', 'publicIpv4'), '7001', '10']));
    expect(atC1).toEqual({ from: '198.51.100.10', data: 'ask' });
    expect(atE1).toEqual({ from: '203.0.113.140', data: 'echo:ask' });
    // And TCP: c1's sshd answers at the public address.
    expect(await probe('e1', ['tcp-banner', ip('c1', 'publicIpv4'), '22'])).toMatchObject({ peer: '203.0.113.140', banner: expect.stringMatching(/^SSH-2\.0-/) });
  });

  it('(b) c1 → e1 arrives from c1\'s public address', async () => {
    const [atE1, atC1] = await withListener('e1', ['udp-echo', '4', '7002', '10'], '7002', () => probe('c1', ['udp-ask', ip('e1', 'ipv4'), '7002', '10']));
    expect(atE1).toEqual({ from: '203.0.113.140', data: 'ask' });
    expect(atC1).toEqual({ from: '198.51.100.10', data: 'echo:ask' });
  });

  it('(c) c1 ↔ c2 talk on their private addresses, no NAT inside the site', async () => {
    const [atC2, atC1] = await withListener('c2', ['udp-echo', '4', '7003', '10'], '7003', () => probe('c1', ['udp-ask', ip('c2', 'ipv4'), '7003', '10']));
    expect(atC2).toEqual({ from: '198.51.100.140', data: 'ask' });
    expect(atC1).toEqual({ from: '198.51.100.139', data: 'echo:ask' });
  });

  it('routes IPv6 to the cloud site untranslated', async () => {
    const [atC1, atE1] = await withListener('c1', ['udp-echo', '6', '7004', '10'], '7004', () => probe('e1', ['udp-ask', ip('c1', 'ipv6'), '7004', '10']));
    expect(atC1).toEqual({ from: '2001:db8:e::10', data: 'ask' });
    expect(atE1).toEqual({ from: '2001:db8:c::10', data: 'echo:ask' });
  });

  it('(d) drops ESP (IPv4 and IPv6) between e1 and c1 at the router and counts it; UDP 4500 gets through', async () => {
    const before = await espDropCount(lab.spec, 'cloud');
    const [seen] = await withListener('c1', ['esp-listen', '3'], 'esp', async () => {
      await probe('e1', ['esp-send', ip('c1', 'publicIpv4'), 'e1-v4']);
      await probe('e1', ['esp-send', ip('c1', 'ipv6'), 'e1-v6']);
      // The control: inside the site, ESP never meets the router and arrives.
      await probe('c2', ['esp-send', ip('c1', 'ipv4'), 'c2-v4']);
      await probe('c2', ['esp-send', ip('c1', 'ipv6'), 'c2-v6']);
    });
    expect(seen).toEqual([
      { from: '198.51.100.139', mark: 'c2-v4' },
      { from: '2001:db8:c::11', mark: 'c2-v6' },
    ]);
    expect((await espDropCount(lab.spec, 'cloud')) - before).toBe(2);

    const [atC1, atE1] = await withListener('c1', ['udp-echo', '4', '4500', '10'], '4500', () => probe('e1', ['udp-ask', ip('c1', 'publicIpv4'), '4500', '10']));
    expect(atC1).toEqual({ from: '198.51.100.10', data: 'ask' });
    expect(atE1).toEqual({ from: '203.0.113.140', data: 'echo:ask' });
  });

  it('without the ESP filter the same packets arrive, translated: the drop was the router\'s rule', async () => {
    await lab.execNetns(routerNetns(NAME), ['nft', 'delete', 'chain', 'inet', natTable(1), 'forward'], { check: true });
    const [seen] = await withListener('c1', ['esp-listen', '2'], 'esp', async () => {
      await probe('e1', ['esp-send', ip('c1', 'publicIpv4'), 'e1-v4']);
      await probe('e1', ['esp-send', ip('c1', 'ipv6'), 'e1-v6']);
    });
    expect(seen).toEqual([
      { from: '198.51.100.10', mark: 'e1-v4' },
      { from: '2001:db8:e::10', mark: 'e1-v6' },
    ]);
  });

  it('comes down completely, NAT table included', async () => {
    const report = await lab.down();
    expect(report.stateRemoved).toBe(true);
    expect(report.netnsDeleted).toHaveLength(6);
    expectNothingLeft(NAME, started);
    expect(labNamespaces(NAME)).toEqual([]);
    expect((await run(['nft', 'list', 'tables'], { check: true })).stdout).not.toContain('imlab_nat');
  });
});
