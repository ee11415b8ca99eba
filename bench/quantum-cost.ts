// Benchmark: what quantum resistance costs an IKE_SA — bytes on the wire and time to establish —
// on namespace hosts: Debian's strongSwan 5.9.8 with and without a post-quantum preshared key
// (RFC 8784), and upstream strongSwan 6.0.6 (the lab's build) classic, with ML-KEM-768
// (RFC 9370) and with both. The proposals are the mesh's own (renderContext), PSK auth,
// the IKE_SA alone (`--initiate --ike`: this kernel has no ESP, and the CHILD_SA costs the same
// in every variant). Needs root and the strongSwan 6 build (scripts/prepare.sh):
//   npm run bench:quantum                    # 20 IKE_SAs per variant
//   npm run bench:quantum -- --rounds 50
// Results go to stdout as a markdown table (docs/benchmarks.md records them).
import { parseArgs } from 'node:util';
import { parseInventory } from '../components/inventory/index.js';
import { renderContext } from '../components/render/render-context.js';
import { startLab, stopLab, strongswan6Prefix, waitFor, type Lab, type LabSpec } from '../lab/netns/index.js';

const NAME = 'bench-pq';
const SPEC: LabSpec = {
  name: NAME,
  sites: [
    { name: 'east', ipv4: '198.51.100.0/26' },
    { name: 'west', ipv4: '203.0.113.0/26' },
  ],
  hosts: [
    { name: 'a5', site: 'east' },
    { name: 'b5', site: 'west' },
    { name: 'x6', site: 'east', strongswan: '6' },
    { name: 'y6', site: 'west', strongswan: '6' },
  ],
};
const CONF = '/etc/swanctl/conf.d/bench-pq.conf';
const PSK = '0x' + 'a5'.repeat(32);
const PPK = '0x' + '5a'.repeat(32);

interface Variant {
  readonly name: string;
  readonly initiator: string;
  readonly responder: string;
  readonly ike: string;
  readonly ppk: boolean;
  /** What `swanctl --list-sas` must show, so a variant that silently fell back is not measured. */
  readonly proposal: string;
}

interface Row {
  readonly variant: Variant;
  /** Per IKE_SA: UDP payload bytes both ways, IKE packets (fragments count one each), milliseconds. */
  readonly bytes: number[];
  readonly packets: number[];
  readonly ms: number[];
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function conf(lab: Lab, self: string, peer: string, ike: string, ppk: boolean): string {
  const ip = (h: string): string => lab.host(h).ipv4[0]!;
  return [
    'connections {',
    `  to-${peer} {`,
    '    version = 2',
    `    local_addrs = ${ip(self)}`,
    `    remote_addrs = ${ip(peer)}`,
    `    proposals = ${ike}`,
    '    reauth_time = 0',
    ...(ppk ? ['    ppk_id = bench.ppk', '    ppk_required = yes'] : []),
    `    local { auth = psk\n      id = ${self} }`,
    `    remote { auth = psk\n      id = ${peer} }`,
    '  }',
    '}',
    'secrets {',
    `  ike-bench {\n    id-1 = ${self}\n    id-2 = ${peer}\n    secret = ${PSK}\n  }`,
    ...(ppk ? [`  ppk-bench {\n    id = bench.ppk\n    secret = ${PPK}\n  }`] : []),
    '}',
    '',
  ].join('\n');
}

async function measure(lab: Lab, v: Variant, rounds: number): Promise<Row> {
  for (const [self, peer] of [[v.initiator, v.responder], [v.responder, v.initiator]] as const) {
    lab.writeHostFile(self, CONF, conf(lab, self, peer, v.ike, v.ppk), 0o600);
    await lab.swanctl(self, ['--load-all', '--clear', '--noprompt'], { check: true });
  }
  const conn = `to-${v.responder}`;
  const row: Row = { variant: v, bytes: [], packets: [], ms: [] };
  // One warm-up IKE_SA (first use of the plugins, ARP), not counted.
  for (let i = -1; i < rounds; i++) {
    const from = lab.charonLog(v.initiator).length;
    const t0 = process.hrtime.bigint();
    await lab.swanctl(v.initiator, ['--initiate', '--ike', conn, '--timeout', '20'], { check: true });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const sa = (await lab.listSas(v.initiator)).find((s) => s.name === conn && s.state === 'ESTABLISHED');
    if (sa?.proposal !== v.proposal) throw new Error(`${v.name}: established ${sa?.proposal ?? 'nothing'}, expected ${v.proposal}`);
    const log = lab.charonLog(v.initiator).slice(from);
    const sizes = [...log.matchAll(/(?:sending|received) packet: from \S+ to \S+ \((\d+) bytes\)/g)].map((m) => Number(m[1]));
    await lab.swanctl(v.initiator, ['--terminate', '--ike', conn, '--timeout', '10'], { check: true });
    await waitFor(async () => ((await lab.listSas(v.responder)).length === 0 ? true : undefined), 10_000, 50);
    if (i < 0) continue;
    // The DELETE exchange is logged after the IKE_SA is up: only what came before counts.
    row.ms.push(ms);
    row.packets.push(sizes.length);
    row.bytes.push(sizes.reduce((a, b) => a + b, 0));
  }
  return row;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '20' } } });
  const rounds = Number(values.rounds);
  if (!strongswan6Prefix()) throw new Error('strongSwan 6.0.6 is not built: run scripts/build-strongswan6.sh (scripts/prepare.sh does)');
  const ctx = renderContext(
    parseInventory({
      mesh: { name: 'bench' },
      sites: [{ name: 'east' }],
      hosts: ['198.51.100.1', '198.51.100.2'].map((a, i) => ({ name: `h${i}`, site: 'east', addresses: { ipv4: [a] }, ssh: { insecureAcceptAnyHostKey: true } })),
      rules: [{ mesh: { sites: ['east'] } }],
    }),
  );
  const classic = 'AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384';
  const variants: Variant[] = [
    { name: '5.9.8, ECP-384 (off)', initiator: 'a5', responder: 'b5', ike: ctx.ikeProposals, ppk: false, proposal: classic },
    { name: '5.9.8, ECP-384 + PPK (the default)', initiator: 'a5', responder: 'b5', ike: ctx.ikeProposals, ppk: true, proposal: `${classic}/PPK` },
    { name: '6.0.6, ECP-384 (off)', initiator: 'x6', responder: 'y6', ike: ctx.ikeProposals, ppk: false, proposal: classic },
    { name: '6.0.6, ECP-384 + PPK', initiator: 'x6', responder: 'y6', ike: ctx.ikeProposals, ppk: true, proposal: `${classic}/PPK` },
    { name: '6.0.6, ECP-384 + ML-KEM-768', initiator: 'x6', responder: 'y6', ike: ctx.hybridIkeProposals, ppk: false, proposal: `${classic}/KE1_ML_KEM_768` },
    { name: '6.0.6, ECP-384 + ML-KEM-768 + PPK (the default, 6↔6)', initiator: 'x6', responder: 'y6', ike: ctx.hybridIkeProposals, ppk: true, proposal: `${classic}/KE1_ML_KEM_768/PPK` },
  ];
  await stopLab(NAME).catch(() => undefined);
  const lab = await startLab(SPEC);
  const rows: Row[] = [];
  try {
    for (const v of variants) rows.push(await measure(lab, v, rounds));
  } finally {
    await stopLab(NAME);
  }
  console.log(`\n${rounds} IKE_SAs per variant (after one warm-up), initiator's view; PSK auth, no CHILD_SA.\n`);
  console.log('| variant | IKE packets | bytes on the wire (UDP payload, both ways) | time to establish, median (min–max) |');
  console.log('|---|---|---|---|');
  for (const r of rows) {
    const ms = (x: number): string => x.toFixed(1);
    console.log(
      `| ${r.variant.name} | ${median(r.packets)} | ${median(r.bytes)} | ${ms(median(r.ms))} ms (${ms(Math.min(...r.ms))}–${ms(Math.max(...r.ms))}) |`,
    );
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
