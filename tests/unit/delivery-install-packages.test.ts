import { createServer, type Server } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DAEMON_PACKAGE, STRONGSWAN_PACKAGES, installPackagesScript } from '../../components/delivery/index.js';
import { Sandbox } from './delivery-sandbox.js';

// The optional package step, with apt, dpkg-query and systemctl faked: which packages it asks
// for, and that it never starts a second IKE daemon or restarts a running one.

const cmd = installPackagesScript({ host: 'cp1' });

let sb: Sandbox;
let vici: Server | undefined;
beforeEach(() => {
  sb = new Sandbox();
  // $SB/installed lists installed packages.
  sb.tool('dpkg-query', '#!/bin/sh\necho "dpkg-query $*" >> "$SB/log"\nif grep -qxF "$2" "$SB/installed" 2>/dev/null; then printf "Package: %s\\nStatus: install ok installed\\n" "$2"; exit 0; fi\necho "dpkg-query: package $2 is not installed" >&2; exit 1\n');
  sb.tool('apt-get', '#!/bin/sh\necho "apt-get $*" >> "$SB/log"\n[ -f "$SB/apt-fails" ] && { echo "E: Unable to locate package" >&2; exit 100; }\nexit 0\n');
  sb.tool('systemctl', '#!/bin/sh\necho "systemctl $*" >> "$SB/log"\n');
});
afterEach(async () => {
  await new Promise<void>((resolve) => (vici ? vici.close(() => resolve()) : resolve()));
  vici = undefined;
  sb.cleanup();
});

function installed(pkgs: readonly string[]): void {
  sb.write('/../installed', pkgs.map((p) => `${p}\n`).join(''));
}

describe('installPackagesScript', () => {
  it('installs the missing packages with charon-systemd and enables strongswan.service', () => {
    installed(['strongswan-swanctl']);
    const r = sb.run(cmd);
    expect(r.code, r.stderr).toBe(0);
    const missing = [...STRONGSWAN_PACKAGES.filter((p) => p !== 'strongswan-swanctl'), DAEMON_PACKAGE];
    expect(sb.log().filter((l) => !l.startsWith('dpkg-query'))).toEqual([
      'apt-get update -q',
      `apt-get install -y -q --no-install-recommends ${missing.join(' ')}`,
      'systemctl enable --now strongswan.service',
    ]);
    expect(r.stdout).toBe(`cp1: installed ${missing.join(' ')}\ncp1: strongswan.service enabled and started\n`);
  });

  it('does nothing to apt when all is installed, and leaves a running charon alone (no second daemon)', async () => {
    installed([...STRONGSWAN_PACKAGES]);
    // A running charon: its vici socket exists.
    vici = createServer();
    await new Promise<void>((resolve) => vici!.listen(sb.path('/run/charon.vici'), resolve));
    const r = sb.run(cmd);
    expect(r.code, r.stderr).toBe(0);
    expect(sb.log().filter((l) => !l.startsWith('dpkg-query'))).toEqual([]);
    expect(sb.log()).not.toContain(`dpkg-query -s ${DAEMON_PACKAGE}`);
    expect(r.stdout).toBe('cp1: strongSwan packages already installed\ncp1: charon is running; left as it is\n');
  });

  it('fails with apt’s own message', () => {
    installed([]);
    sb.flag('apt-fails', true);
    const r = sb.run(cmd);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cp1: apt-get update failed: E: Unable to locate package');
  });

  it('is deterministic', () => {
    expect(installPackagesScript({ host: 'cp1' })).toBe(cmd);
  });
});
