// The vm lab's pure parts: pcap reading and the wire summary the ESP proofs rest on, the qemu
// command line, a guest's seed and addresses. No root, no guests.
import { describe, expect, it } from 'vitest';
import { resolveLabSpec } from '../../lab/netns/lab-spec.js';
import { maskXfrmKeys } from '../../lab/vm/esp-proof.js';
import { PcapError, guestIpBatch, guestMac, guestOverlayArgv, guestSeedFiles, parsePcap, qemuArgv, summariseWire } from '../../lab/vm/index.js';
import { natTKind } from '../../lab/vm/pcap.js';

const A = '198.51.100.10';
const B = '203.0.113.10';
const PAYLOAD = 'ipsec-mesh-payload-0123456789ab';

function ipv4(src: string, dst: string, proto: number, body: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + body.length, 2);
  h[8] = 64;
  h[9] = proto;
  src.split('.').forEach((o, i) => (h[12 + i] = Number(o)));
  dst.split('.').forEach((o, i) => (h[16 + i] = Number(o)));
  return Buffer.concat([h, body]);
}
function ipv6(src: number, dst: number, next: number, body: Buffer): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(body.length, 4);
  h[6] = next;
  h[7] = 64;
  // 2001:db8:e::<src> and 2001:db8:e::<dst>
  for (const [off, last] of [[8, src], [24, dst]] as const) {
    h.writeUInt16BE(0x2001, off);
    h.writeUInt16BE(0x0db8, off + 2);
    h.writeUInt16BE(0x000e, off + 4);
    h.writeUInt16BE(last, off + 14);
  }
  return Buffer.concat([h, body]);
}
function ether(type: number, l3: Buffer): Buffer {
  const h = Buffer.alloc(14);
  h.writeUInt16BE(type, 12);
  return Buffer.concat([h, l3]);
}
function udp(sport: number, dport: number, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + data.length, 4);
  return Buffer.concat([h, data]);
}
function pcap(frames: readonly Buffer[], bigEndian = false, truncateLast = false): Buffer {
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    if (bigEndian) b.writeUInt32BE(n);
    else b.writeUInt32LE(n);
    return b;
  };
  const u16 = (n: number): Buffer => {
    const b = Buffer.alloc(2);
    if (bigEndian) b.writeUInt16BE(n);
    else b.writeUInt16LE(n);
    return b;
  };
  const parts = [u32(0xa1b2c3d4), u16(2), u16(4), u32(0), u32(0), u32(262144), u32(1)];
  for (const f of frames) parts.push(u32(1), u32(0), u32(f.length), u32(f.length), f);
  const out = Buffer.concat(parts);
  return truncateLast ? out.subarray(0, out.length - 3) : out;
}

const esp = ether(0x0800, ipv4(A, B, 50, Buffer.from('\x00\x00\x10\x01 opaque ciphertext', 'binary')));
const ike = ether(0x0800, ipv4(B, A, 17, udp(500, 500, Buffer.alloc(28))));
// An ICMPv6 port-unreachable quoting a datagram that carried the payload.
const icmpQuote = ether(0x86dd, ipv6(0x11, 0x10, 58, Buffer.concat([Buffer.from([1, 4, 0, 0, 0, 0, 0, 0]), Buffer.from(PAYLOAD)])));
const arp = ether(0x0806, Buffer.alloc(28));

describe('parsePcap', () => {
  it('decodes Ethernet/IPv4/IPv6 frames: family, protocol, addresses, ports', () => {
    const frames = parsePcap(pcap([esp, ike, icmpQuote, arp]));
    expect(frames.map((f) => [f.family, f.protocol, f.src, f.dst, f.srcPort, f.dstPort])).toEqual([
      ['ipv4', 50, A, B, undefined, undefined],
      ['ipv4', 17, B, A, 500, 500],
      ['ipv6', 58, '2001:db8:e::11', '2001:db8:e::10', undefined, undefined],
      [undefined, undefined, undefined, undefined, undefined, undefined],
    ]);
  });
  it('reads big-endian files and ignores a record cut short at the end', () => {
    expect(parsePcap(pcap([esp, ike], true)).length).toBe(2);
    expect(parsePcap(pcap([esp, ike], false, true)).length).toBe(1);
  });
  it('refuses what is not an Ethernet pcap', () => {
    expect(() => parsePcap(Buffer.from('not a capture at all, really not'))).toThrow(PcapError);
    const raw = pcap([]);
    raw.writeUInt32LE(101, 20); // LINKTYPE_RAW
    expect(() => parsePcap(raw)).toThrow(/link type 101/);
  });
});

describe('summariseWire', () => {
  it('counts ESP and IKE between the two addresses and every frame with the payload, wherever it sits', () => {
    const w = summariseWire(parsePcap(pcap([esp, ike, icmpQuote, arp])), A, B, PAYLOAD);
    expect(w).toMatchObject({ frames: 4, esp: 1, ike: 1, plaintextFrames: 1, plaintextOccurrences: 1 });
    expect(w.leaks).toEqual(['frame 2: ipv6 proto 58 2001:db8:e::11 → 2001:db8:e::10, 93 bytes']);
  });
  it('ESP between other addresses is not counted; no payload, no leak', () => {
    const w = summariseWire(parsePcap(pcap([esp])), A, '203.0.113.99', PAYLOAD);
    expect(w).toMatchObject({ esp: 0, plaintextFrames: 0, leaks: [] });
  });
});

describe('UDP 4500: ESP-in-UDP apart from IKE and keepalives (RFC 3948)', () => {
  const espBody = Buffer.concat([Buffer.from([0x00, 0x00, 0x10, 0x01, 0, 0, 0, 7]), Buffer.from('opaque ciphertext')]); // SPI, seq
  const ikeBody = Buffer.concat([Buffer.alloc(4), Buffer.alloc(28, 0x11)]); // non-ESP marker, IKE header
  const espInUdp = ether(0x0800, ipv4(A, B, 17, udp(4500, 4500, espBody)));
  const ikeNatT = ether(0x0800, ipv4(B, A, 17, udp(4500, 4500, ikeBody)));
  // A keepalive is 43 bytes: Ethernet pads it to 60 with zeros, after the UDP length.
  const keepalive = ether(0x0800, Buffer.concat([ipv4(A, B, 17, udp(4500, 4500, Buffer.from([0xff]))), Buffer.alloc(17)]));
  const espInUdp6 = ether(0x86dd, ipv6(0x10, 0x11, 17, udp(4500, 4500, espBody)));
  const ike500 = ether(0x0800, ipv4(B, A, 17, udp(500, 500, Buffer.alloc(28))));

  it('natTKind tells ESP (non-zero SPI), IKE (zero marker) and a padded keepalive apart, by UDP length', () => {
    const frames = parsePcap(pcap([espInUdp, ikeNatT, keepalive, espInUdp6, ike500, esp]));
    expect(frames.map(natTKind)).toEqual(['esp', 'ike', 'keepalive', 'esp', undefined, undefined]);
    expect(frames[2]!.udpPayload).toEqual(Buffer.from([0xff]));
    expect(frames[0]!.udpPayload).toEqual(espBody);
    expect(frames[5]!.udpPayload).toBeUndefined(); // raw ESP has no UDP payload
  });

  it('a UDP 4500 body too short for an ESP header is not counted as ESP; other ports are not NAT-T', () => {
    const short = ether(0x0800, ipv4(A, B, 17, udp(4500, 4500, Buffer.from([1, 2, 3, 4, 5]))));
    const elsewhere = ether(0x0800, ipv4(A, B, 17, udp(5001, 5001, espBody)));
    expect(parsePcap(pcap([short, elsewhere])).map(natTKind)).toEqual([undefined, undefined]);
  });

  it('summariseWire counts ESP-in-UDP and IKE on 4500 apart; `ike` keeps counting every frame to 500/4500 by port', () => {
    const w = summariseWire(parsePcap(pcap([espInUdp, espInUdp, ikeNatT, keepalive, ike500, esp])), A, B, PAYLOAD);
    expect(w).toMatchObject({ frames: 6, esp: 1, espInUdp: 2, ikeOn4500: 1, ike: 5, plaintextFrames: 0 });
    // Between other addresses: nothing counted.
    expect(summariseWire(parsePcap(pcap([espInUdp, ikeNatT])), A, '203.0.113.99', PAYLOAD)).toMatchObject({ espInUdp: 0, ikeOn4500: 0 });
    // IPv6 addresses as parsePcap writes them.
    expect(summariseWire(parsePcap(pcap([espInUdp6])), '2001:db8:e::10', '2001:db8:e::11', PAYLOAD)).toMatchObject({ espInUdp: 1, esp: 0 });
  });

  it('a payload inside a UDP 4500 frame is a leak like anywhere else', () => {
    const cleartext = ether(0x0800, ipv4(A, B, 17, udp(4500, 4500, Buffer.concat([Buffer.from([9, 9, 9, 9, 0, 0, 0, 1]), Buffer.from(PAYLOAD)]))));
    const w = summariseWire(parsePcap(pcap([cleartext])), A, B, PAYLOAD);
    expect(w).toMatchObject({ espInUdp: 1, plaintextFrames: 1, plaintextOccurrences: 1 });
  });
});

describe('guest command line and seed', () => {
  const spec = resolveLabSpec({
    name: 't',
    sites: [{ name: 'east', ipv4: '198.51.100.0/26', ipv6: '2001:db8:e::/64' }],
    hosts: [{ name: 'h1', site: 'east' }],
  });
  const host = spec.hosts[0]!;
  const site = spec.sites[0]!;

  it('qemu: TCG with the tuned translation cache, 256 MB, a per-guest overlay of the root image, no option ROM, no reboot', () => {
    const argv = qemuArgv({
      name: 'imlab-t-h1', kernel: '/k', initrd: '/i', disk: '/g/disk.qcow2', seed: '/s.tar', consoleLog: '/c.log', tap: 'h0', mac: guestMac(0, 0),
    });
    const after = (flag: string): string | undefined => argv[argv.indexOf(flag) + 1];
    expect(after('-accel')).toBe('tcg,tb-size=128');
    expect(after('-cpu')).toBe('max');
    expect(after('-m')).toBe('256');
    expect(argv).toContain('-no-reboot');
    expect(argv).toContain('file=/g/disk.qcow2,if=virtio,format=qcow2');
    expect(guestOverlayArgv('/r.ext4', '/g/disk.qcow2')).toEqual(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', '/r.ext4', '/g/disk.qcow2']);
    expect(argv).toContain('file=/s.tar,if=virtio,format=raw,readonly=on');
    expect(argv).toContain('tap,id=net0,ifname=h0,script=no,downscript=no');
    expect(argv).toContain('virtio-net-pci,netdev=net0,mac=52:54:00:00:00:00,romfile=');
    expect(after('-append')).toMatch(/console=ttyS0.*panic=-1/);
    expect(argv.some((a) => /kvm/.test(a))).toBe(false);
  });

  it('MACs are distinct per site and host', () => {
    expect(guestMac(1, 258)).toBe('52:54:00:01:01:02');
    expect(new Set([guestMac(0, 1), guestMac(1, 1), guestMac(0, 2)]).size).toBe(3);
  });

  it('addresses and default routes via the lab router, IPv6 without DAD', () => {
    expect(guestIpBatch(host, site)).toEqual([
      'link set lo up',
      'addr add 198.51.100.10/26 dev eth0',
      'addr add 2001:db8:e::10/64 dev eth0 nodad',
      'link set eth0 up',
      'route add 0.0.0.0/0 via 198.51.100.1 dev eth0 onlink',
      'route add ::/0 via 2001:db8:e::1 dev eth0 onlink',
    ]);
  });

  it('the seed carries the host key and the lab key privately, and names the guest', () => {
    const files = guestSeedFiles({
      lab: 't', host, site, hostKey: { privateKey: 'PRIVATE\n', publicKey: 'ssh-ed25519 AAAA h1' }, authorizedKey: 'ssh-ed25519 BBBB lab',
    });
    const byPath = new Map(files.map((f) => [f.path, f]));
    expect(byPath.get('/etc/ssh/ssh_host_ed25519_key')).toMatchObject({ mode: 0o600, content: 'PRIVATE\n' });
    expect(byPath.get('/root/.ssh/authorized_keys')).toMatchObject({ mode: 0o600, content: 'ssh-ed25519 BBBB lab\n' });
    expect(byPath.get('/etc/hostname')?.content).toBe('h1\n');
    expect(files.every((f) => f.path.startsWith('/'))).toBe(true);
  });

  it('xfrm keys are masked in what the main job prints', () => {
    const text = '\taead rfc4106(gcm(aes)) 0x0123456789abcdef0123456789abcdef01234567 128';
    expect(maskXfrmKeys(text)).toBe('\taead rfc4106(gcm(aes)) 0x…(20 bytes) 128');
  });
});
