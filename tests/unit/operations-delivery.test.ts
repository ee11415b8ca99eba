import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeliveryError, checkDeliveryPath, encodePayload, pushScript, removeScript, type DeliveryBundle } from '../../components/delivery/index.js';
import type { LivenessTarget } from '../../components/operations/liveness-check.js';
import { monitorPaths, monitorScript } from '../../components/operations/monitor-script.js';
import { monitorUnits } from '../../components/operations/monitor-units.js';
import type { RenderedFile } from '../../components/render/rendered-file.js';
import { Sandbox } from './delivery-sandbox.js';
import { prettySas, xfrmPolicyText } from './operations-fixtures.js';

// The monitor travels with the push: its script and units are ordinary payload files, the
// units installed only where systemd runs, the monitor run once after every successful load,
// everything of it removed by the delete. Scripts run for real (dash) against a sandbox root.

const MESH = 'prod';
const P = monitorPaths(MESH);
const CONF = '/etc/swanctl/conf.d/ipsec-mesh_prod.conf';
const STATE = '/etc/swanctl/.ipsec-mesh-state.prod';
const TARGETS: LivenessTarget[] = [
  { connection: 'prod_cp2_v4', peer: 'cp2', family: 'ipv4', local: '198.51.100.1', remote: '198.51.100.2', enforcement: 'use', role: 'use-initiator' },
  { connection: 'prod_cp3_v4', peer: 'cp3', family: 'ipv4', local: '198.51.100.1', remote: '198.51.100.3', enforcement: 'use', role: 'use-responder' },
];

const file = (path: string, content: string, mode = 0o644): RenderedFile => ({ path, content, mode, secret: false });
const units = monitorUnits({ mesh: MESH });
const MONITOR_FILES = [
  file(P.script, monitorScript({ mesh: MESH, host: 'cp1', targets: TARGETS, textfileDir: '/metrics' })),
  file(P.service, units.service),
];
// What an earlier release installed: a oneshot service run by a timer.
const TIMER = '/etc/systemd/system/ipsec-mesh_prod_monitor.timer';
const OLD_MONITOR_FILES = [
  MONITOR_FILES[0]!,
  file(P.service, '[Service]\nType=oneshot\nExecStart=/bin/sh /etc/swanctl/ipsec-mesh_prod_monitor.sh\n'),
  file(TIMER, '[Timer]\nOnUnitActiveSec=30s\n[Install]\nWantedBy=timers.target\n'),
];

function bundle(withMonitor = true): DeliveryBundle {
  return {
    host: 'cp1',
    mesh: MESH,
    files: [file(CONF, 'connections {\n  prod_cp2_v4 { }\n  prod_cp3_v4 { }\n}\n'), ...(withMonitor ? MONITOR_FILES : [])],
    connections: ['prod_cp2_v4', 'prod_cp3_v4'],
  };
}

// swanctl for both scripts: --raw (the push's SA listing) from $SB/sas, --pretty (the monitor's) from $SB/pretty.
const SWANCTL = `#!/bin/sh
echo "swanctl $*" >> "$SB/log"
case "$1" in
  --load-all)
    if grep -rqs BROKEN "$SB/root/etc/swanctl/conf.d"; then echo "loading connection 'x' failed: invalid value for: proposals, config discarded" >&2; exit 22; fi
    echo "successfully loaded 2 connections, 0 unloaded" ;;
  --list-sas)
    if [ "$2" = --pretty ]; then cat "$SB/pretty"; exit 0; fi
    while read -r n; do echo "list-sa event {$n {uniqueid=1 state=ESTABLISHED child-sas {}}}"; done < "$SB/sas"
    echo "list-sas reply {}" ;;
  --initiate) echo "initiate completed successfully" ;;
  --terminate) echo "terminate completed successfully" ;;
esac
exit 0
`;

let sb: Sandbox;
beforeEach(() => {
  sb = new Sandbox();
  sb.tool('swanctl', SWANCTL);
  sb.tool('systemctl', '#!/bin/sh\necho "systemctl $*" >> "$SB/log"\n');
  sb.tool('ip', `#!/bin/sh\n[ "$2" = policy ] && printf "%s" "${xfrmPolicyText([]).replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"\nexit 0\n`);
  sb.tool('logger', '#!/bin/sh\necho "logger $*" >> "$SB/log"\n');
  sb.tool('date', '#!/bin/sh\necho 1000000\n');
  writeFileSync(join(sb.dir, 'pretty'), prettySas([]));
  for (const d of ['etc/systemd/system', 'metrics', 'proc/net']) mkdirSync(sb.path(d), { recursive: true });
});
afterEach(() => sb.cleanup());

const ok = (r: { code: number; stdout: string; stderr: string }): typeof r => {
  expect(r.code, `stderr:\n${r.stderr}`).toBe(0);
  return r;
};
const systemd = (on: boolean): void => {
  if (on) mkdirSync(sb.path('run/systemd/system'), { recursive: true });
};
const create = pushScript({ host: 'cp1', mesh: MESH, phase: 'create' });
const update = pushScript({ host: 'cp1', mesh: MESH, phase: 'update' });
const remove = removeScript({ host: 'cp1', mesh: MESH });

describe('monitor delivery without systemd (containers, the namespace lab)', () => {
  it('installs the script 0644, skips and does not record the units, runs the monitor once after the load', () => {
    const r = ok(sb.run(create, encodePayload(bundle())));
    expect(sb.read(P.script)).toBe(MONITOR_FILES[0]!.content);
    expect(sb.mode(P.script)).toBe(0o644);
    expect(sb.exists(P.service)).toBe(false);
    expect(sb.read(STATE)).not.toContain('/etc/systemd/');
    expect(r.stdout).toContain('cp1: mesh prod: 2 file(s) written, 0 unchanged, 0 removed;');
    expect(r.stderr).toContain('cp1: systemd is not running: 1 unit file(s) not installed (the monitor runs only after each push)');
    // After the load: the initiator's connection and, once, the responder's (no IKE_SA to either peer).
    expect(r.stderr).toContain('cp1: mesh prod monitor: 2 connection(s): 0 IKE_SA up, 0 CHILD_SA up, 2 cleartext, 0 halfling; 2 initiated, 0 closed');
    const log = sb.log();
    expect(log.indexOf('swanctl --load-all --noprompt')).toBeLessThan(log.indexOf('swanctl --list-sas --pretty'));
    expect(log.filter((l) => l.startsWith('swanctl --initiate')).sort()).toEqual([
      'swanctl --initiate --ike prod_cp2_v4 --child prod_cp2_v4 --timeout 5',
      'swanctl --initiate --ike prod_cp3_v4 --child prod_cp3_v4 --timeout 5',
    ]);
    expect(log.some((l) => l.startsWith('systemctl'))).toBe(false);
    expect(sb.read('/metrics/ipsec_mesh_prod.prom')).toContain('ipsec_mesh_cleartext{mesh="prod",peer="cp2",family="ipv4",enforcement="use"} 1\n');
  });

  it('the delete removes the script, the monitor state and its metrics file', () => {
    ok(sb.run(create, encodePayload(bundle())));
    expect(sb.exists(`${P.stateDir}/retry`)).toBe(true);
    const r = ok(sb.run(remove));
    expect(r.stdout).toContain('2 file(s) removed');
    expect(sb.exists(P.script)).toBe(false);
    expect(sb.exists(P.stateDir)).toBe(false);
    expect(sb.exists('/metrics/ipsec_mesh_prod.prom')).toBe(false);
  });
});

describe('monitor delivery with systemd', () => {
  beforeEach(() => systemd(true));

  it('installs the service, reloads systemd, enables and starts it; an unchanged push only makes sure it runs', () => {
    ok(sb.run(create, encodePayload(bundle())));
    expect(sb.read(P.service)).toBe(units.service);
    expect(sb.read(STATE)).toContain(`F ${P.service}\n`);
    expect(sb.log().filter((l) => l.startsWith('systemctl'))).toEqual(['systemctl daemon-reload', `systemctl enable ${P.serviceUnit}`, `systemctl restart ${P.serviceUnit}`]);
    sb.clearLog();
    const inode = sb.inode(P.service);
    const r = ok(sb.run(update, encodePayload(bundle())));
    expect(r.stdout).toContain('0 file(s) written, 3 unchanged');
    expect(sb.inode(P.service)).toBe(inode);
    expect(sb.log().filter((l) => l.startsWith('systemctl'))).toEqual([`systemctl enable ${P.serviceUnit}`, `systemctl start ${P.serviceUnit}`]);
    expect(sb.files().filter((f) => f.includes('.ipsec-mesh-stage'))).toEqual([]);
  });

  it('a changed script alone restarts nothing (each run reads it afresh); a changed unit restarts the service', () => {
    ok(sb.run(create, encodePayload(bundle())));
    sb.clearLog();
    const script = file(P.script, monitorScript({ mesh: MESH, host: 'cp1', targets: TARGETS.slice(0, 1), textfileDir: '/metrics' }));
    ok(sb.run(update, encodePayload({ ...bundle(), files: [bundle().files[0]!, script, MONITOR_FILES[1]!] })));
    expect(sb.log().filter((l) => l.startsWith('systemctl'))).toEqual([`systemctl enable ${P.serviceUnit}`, `systemctl start ${P.serviceUnit}`]);
    sb.clearLog();
    const slower = file(P.service, monitorUnits({ mesh: MESH, intervalSeconds: 60 }).service);
    ok(sb.run(update, encodePayload({ ...bundle(), files: [bundle().files[0]!, script, slower] })));
    expect(sb.log().filter((l) => l.startsWith('systemctl'))).toEqual(['systemctl daemon-reload', `systemctl enable ${P.serviceUnit}`, `systemctl restart ${P.serviceUnit}`]);
  });

  it("upgrading from a release with a timer: the timer is disabled and removed, the service replaces the timer's oneshot", () => {
    ok(sb.run(create, encodePayload({ ...bundle(), files: [bundle().files[0]!, ...OLD_MONITOR_FILES] })));
    sb.clearLog();
    ok(sb.run(update, encodePayload(bundle())));
    expect(sb.log().filter((l) => l.startsWith('systemctl'))).toEqual([
      'systemctl disable --now ipsec-mesh_prod_monitor.timer',
      'systemctl daemon-reload',
      `systemctl enable ${P.serviceUnit}`,
      `systemctl restart ${P.serviceUnit}`,
    ]);
    expect(sb.exists(TIMER)).toBe(false);
    expect(sb.read(P.service)).toBe(units.service);
  });

  it('a push without the monitor stops and disables the service before removing its files', () => {
    ok(sb.run(create, encodePayload(bundle())));
    sb.clearLog();
    const r = ok(sb.run(update, encodePayload(bundle(false))));
    expect(r.stdout).toContain('0 file(s) written, 1 unchanged, 2 removed');
    expect(sb.log().filter((l) => l.startsWith('systemctl'))).toEqual([`systemctl disable --now ${P.serviceUnit}`, 'systemctl daemon-reload']);
    for (const p of [P.script, P.service, P.stateDir, '/metrics/ipsec_mesh_prod.prom']) expect(sb.exists(p), p).toBe(false);
  });

  it('a push that rolls back enables and starts the service it had disabled again', () => {
    ok(sb.run(create, encodePayload(bundle())));
    sb.clearLog();
    const broken = bundle(false);
    const r = sb.run(update, encodePayload({ ...broken, files: [file(CONF, 'BROKEN\n')] }));
    expect(r.code).toBe(1);
    expect(sb.log().filter((l) => l.startsWith('systemctl'))).toEqual([`systemctl disable --now ${P.serviceUnit}`, `systemctl enable --now ${P.serviceUnit}`]);
    expect(sb.read(P.service)).toBe(units.service);
  });

  it('the delete disables and stops the service, removes the unit file and reloads systemd', () => {
    ok(sb.run(create, encodePayload(bundle())));
    sb.clearLog();
    ok(sb.run(remove));
    expect(sb.log().filter((l) => l.startsWith('systemctl'))).toEqual([`systemctl disable --now ${P.serviceUnit}`, 'systemctl daemon-reload']);
    for (const p of [P.script, P.service, STATE]) expect(sb.exists(p), p).toBe(false);
  });
});

describe('systemd paths a delivery may write', () => {
  it('only ipsec-mesh*.service and .timer directly in /etc/systemd/system', () => {
    for (const good of [P.service, TIMER]) expect(() => checkDeliveryPath('cp1', good)).not.toThrow();
    for (const bad of [
      '/etc/systemd/system/sshd.service.d/ipsec-mesh.conf',
      '/etc/systemd/system/ipsec-mesh_prod.conf',
      '/etc/systemd/system/multi-user.target.wants/ipsec-mesh_prod_monitor.timer',
      '/etc/systemd/ipsec-mesh.service',
    ]) {
      expect(() => checkDeliveryPath('cp1', bad), bad).toThrow(DeliveryError);
    }
  });

  it('the on-host parser refuses a hand-made payload with a drop-in path too', () => {
    systemd(true);
    const body = Buffer.from('[Service]\nExecStart=/bin/true\n').toString('base64');
    const payload = ['ipsec-mesh-payload 1', 'H cp1', `M ${MESH}`, `F 0644 /etc/systemd/system/sshd.service.d/ipsec-mesh.conf ${body.length}`, body, 'END 1', ''].join('\n');
    const r = sb.run(create, payload);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('refusing path /etc/systemd/system/sshd.service.d/ipsec-mesh.conf');
    expect(sb.exists('/etc/systemd/system/sshd.service.d')).toBe(false);
  });
});
