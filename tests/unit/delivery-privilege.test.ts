import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodePayload, installPackagesScript, pushScript, removeScript } from '../../components/delivery/index.js';
import { Sandbox } from './delivery-sandbox.js';

// The bootstrap of every command: root runs the script directly, anyone else only through
// passwordless sudo (remote.Command has no PTY). `id` and `sudo` are fakes here; the lab
// test does the same with a real user and the real sudo.

const CONF = '/etc/swanctl/conf.d/ipsec-mesh_prod.conf';
const payload = encodePayload({
  host: 'cp1',
  mesh: 'prod',
  files: [{ path: CONF, content: 'connections { }\n', mode: 0o644, secret: false }],
  connections: [],
});
const push = pushScript({ host: 'cp1', mesh: 'prod', phase: 'create' });

const FAKE_ID = `#!/bin/sh
case "$1" in -u) echo 1000 ;; -un) echo deploy ;; *) echo "uid=1000(deploy) gid=1000(deploy)" ;; esac
`;
// "Becomes root" by dropping the fake id from PATH, as the real sudo would change the uid.
const FAKE_SUDO = `#!/bin/sh
echo "sudo $1 $2 $3 $4" >> "$SB/log"
[ "$1" = -n ] || { echo "sudo: expected -n" >&2; exit 99; }
shift
if [ -f "$SB/sudo-password" ]; then echo "sudo: a password is required" >&2; exit 1; fi
PATH=$(echo "$PATH" | sed "s|^[^:]*/user:||"); export PATH
exec "$@"
`;

let sb: Sandbox;
let user: string;
let userPath: string;
beforeEach(() => {
  sb = new Sandbox();
  user = join(sb.dir, 'user');
  mkdirSync(user);
  writeFileSync(join(user, 'id'), FAKE_ID, { mode: 0o755 });
  writeFileSync(join(user, 'sudo'), FAKE_SUDO, { mode: 0o755 });
  userPath = `${user}:${sb.bin}:/usr/local/bin:/usr/bin:/bin`;
});
afterEach(() => sb.cleanup());

describe('privilege bootstrap', () => {
  it('runs the script through sudo -n for a non-root user, with the payload still on stdin', () => {
    const r = sb.run(push, payload, { path: userPath });
    expect(r.code, r.stderr).toBe(0);
    expect(sb.read(CONF)).toBe('connections { }\n');
    expect(sb.log().filter((l) => l.startsWith('sudo'))).toEqual(['sudo -n /bin/sh -c :', 'sudo -n /bin/sh -c # ipsec-mesh push (create) - host cp1, mesh prod. Runs as root under /bin/sh (POSIX).']);
  });

  it.each([
    ['push', push],
    ['remove', removeScript({ host: 'cp1', mesh: 'prod' })],
    ['install-packages', installPackagesScript({ host: 'cp1' })],
  ])('%s: fails with a clear message when sudo wants a password, changing nothing', (_kind, cmd) => {
    sb.flag('sudo-password', true);
    const r = sb.run(cmd, payload, { path: userPath });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'cp1: user deploy needs passwordless sudo (NOPASSWD) for ipsec-mesh; no PTY is available (sudo: sudo: a password is required)\n',
    );
    expect(sb.files()).toEqual([]);
  });

  it('fails with a clear message when the user is not root and sudo is not installed', () => {
    // Only `id` on PATH (and what unpacks the script): no sudo anywhere.
    mkdirSync(join(sb.dir, 'idonly'));
    writeFileSync(join(sb.dir, 'idonly', 'id'), FAKE_ID, { mode: 0o755 });
    for (const t of ['base64', 'gzip']) symlinkSync(`/usr/bin/${t}`, join(sb.dir, 'idonly', t));
    const r2 = sb.run(push, payload, { path: join(sb.dir, 'idonly') });
    expect(r2.code).toBe(1);
    expect(r2.stderr).toBe('cp1: user deploy is not root and sudo is not installed; ipsec-mesh needs root or passwordless sudo (NOPASSWD)\n');
    expect(sb.files()).toEqual([]);
  });
});
