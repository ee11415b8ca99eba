// The rotation of the charon log the mesh's drop-in writes: part of every host's files,
// accepted by logrotate itself (-d), and rotating for real in a scratch directory.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHARON_LOG_PATH, LOGROTATE_CONF_PATH } from '../../components/render/file-paths.js';
import { renderLogrotateConf } from '../../components/render/logrotate-conf.js';
import { renderHostConfig } from '../../components/render/index.js';
import { parseInventory } from '../../components/inventory/index.js';
import { computeHostPairs, pairsForHost } from '../../components/topology/index.js';

const LOGROTATE = '/usr/sbin/logrotate';
let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ipsec-mesh-logrotate-'));
  if (!existsSync(LOGROTATE)) throw new Error('logrotate is missing: scripts/install-system-deps.sh installs it');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function logrotate(conf: string, ...args: string[]): { code: number; out: string } {
  const path = join(dir, 'ipsec-mesh');
  writeFileSync(path, conf, { mode: 0o644 });
  const r = spawnSync(LOGROTATE, ['-s', join(dir, 'state'), ...args, path], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

describe('logrotate for the charon log', () => {
  it('is one of every host\'s files, 0644, host-wide', () => {
    const inventory = parseInventory({
      mesh: { name: 'm' },
      sites: [{ name: 's' }],
      hosts: [
        { name: 'a', site: 's', addresses: { ipv4: ['198.51.100.1'] } },
        { name: 'b', site: 's', addresses: { ipv4: ['198.51.100.2'] } },
      ],
      rules: [{ mesh: { sites: ['s'] } }],
    });
    const set = computeHostPairs(inventory);
    const file = renderHostConfig({ inventory, host: inventory.hosts[0]!, pairs: pairsForHost(set, 'a') }).find((f) => f.path === LOGROTATE_CONF_PATH);
    expect(file).toEqual({ path: '/etc/logrotate.d/ipsec-mesh', content: renderLogrotateConf(), mode: 0o644, secret: false });
    expect(file?.content).toContain(`${CHARON_LOG_PATH} {`);
  });

  it('passes logrotate -d (and a broken one would not)', () => {
    const ok = logrotate(renderLogrotateConf(), '-d');
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toContain(`rotating pattern: ${CHARON_LOG_PATH}`);
    expect(ok.out).not.toMatch(/error/i);
    const bad = logrotate(renderLogrotateConf().replace('notifempty', 'notifempty-please'), '-d');
    expect(bad.code, bad.out).not.toBe(0);
  });

  it('rotates: the log moves to .1 and the post-rotate command runs (here a marker instead of swanctl)', () => {
    const log = join(dir, 'charon.log');
    writeFileSync(log, 'a line charon wrote\n');
    const conf = renderLogrotateConf()
      .replace(CHARON_LOG_PATH, log)
      .replace('swanctl --reload-settings > /dev/null 2>&1 || true', `touch ${join(dir, 'reopened')}`);
    const r = logrotate(conf, '-f');
    expect(r.code, r.out).toBe(0);
    expect(readFileSync(`${log}.1`, 'utf8')).toBe('a line charon wrote\n');
    expect(existsSync(join(dir, 'reopened'))).toBe(true);
  });
});
