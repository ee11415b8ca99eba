import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type LabSpec,
  LabPrerequisiteError,
  LabSpecError,
  STRONGSWAN6_BUILD_SCRIPT,
  assertPrerequisites,
  missingPrerequisites,
  resolveLabSpec,
  strongswan6Paths,
  strongswan6Prefix,
} from '../../lab/netns/index.js';

// LabHostSpec.strongswan: '5' (Debian's 5.9.8, the default) or '6' (upstream 6.0.6 built by
// scripts/build-strongswan6.sh). Validation, resolution, and the prerequisite check that names
// the build script when a '6' host has no build. Touches no network: the build cache is a
// temporary IPSEC_MESH_CACHE.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const SPEC: LabSpec = {
  name: 'ss6-unit',
  sites: [
    { name: 'east', ipv4: '198.51.100.0/26' },
    { name: 'west', ipv4: '203.0.113.0/26' },
  ],
  hosts: [
    { name: 'x6', site: 'east', strongswan: '6' },
    { name: 'y6', site: 'west', strongswan: '6' },
    { name: 'z5', site: 'west', strongswan: '5' },
    { name: 'd', site: 'east' },
  ],
};

function issuesOf(spec: unknown): string[] {
  try {
    resolveLabSpec(spec);
  } catch (e) {
    expect(e).toBeInstanceOf(LabSpecError);
    return (e as LabSpecError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('the spec was accepted');
}

describe('lab spec: strongswan per host', () => {
  it("resolves each host's strongSwan, '5' when not given", () => {
    expect(resolveLabSpec(SPEC).hosts.map((h) => [h.name, h.strongswan])).toEqual([
      ['x6', '6'],
      ['y6', '6'],
      ['z5', '5'],
      ['d', '5'],
    ]);
  });

  it('refuses anything but the strings 5 and 6, by path', () => {
    for (const bad of [6, '6.0', 'latest', null]) {
      const issues = issuesOf({ ...SPEC, hosts: [{ name: 'x6', site: 'east', strongswan: bad }] });
      expect(issues).toHaveLength(1);
      expect(issues[0]).toMatch(/^hosts\[0\]\.strongswan: must be '5' \(Debian's 5\.9\.8\) or '6' \(upstream 6\.0\.6\)$/);
    }
  });
});

describe('lab prerequisites: the strongSwan 6 build', () => {
  const saved = process.env.IPSEC_MESH_CACHE;
  let cache: string;
  beforeAll(() => {
    cache = mkdtempSync(join(tmpdir(), 'ss6-unit-cache-'));
    process.env.IPSEC_MESH_CACHE = cache; // build-strongswan6.sh --print-dir looks here
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.IPSEC_MESH_CACHE;
    else process.env.IPSEC_MESH_CACHE = saved;
    rmSync(cache, { recursive: true, force: true });
  });
  const names6 = (m: readonly string[]): string[] => m.filter((x) => x.includes(STRONGSWAN6_BUILD_SCRIPT));

  it("names scripts/build-strongswan6.sh and the '6' hosts when the build is missing, only for a spec with a '6' host", () => {
    expect(strongswan6Prefix()).toBeUndefined();
    const missing = names6(missingPrerequisites(SPEC));
    expect(missing).toEqual([
      "strongSwan 6.0.6 for the strongswan: '6' host(s) x6, y6: not built, run scripts/build-strongswan6.sh (scripts/prepare.sh does)",
    ]);
    expect(() => assertPrerequisites(SPEC)).toThrow(LabPrerequisiteError);
    expect(() => assertPrerequisites(SPEC)).toThrow(/scripts\/build-strongswan6\.sh/);
    const only5: LabSpec = { ...SPEC, hosts: [{ name: 'z5', site: 'west', strongswan: '5' }] };
    expect(names6(missingPrerequisites(only5))).toEqual([]);
    expect(names6(missingPrerequisites({ sites: [{}] }))).toEqual([]);
    expect(() => missingPrerequisites({ hosts: 'nonsense' } as never)).not.toThrow();
  });

  it('finds a build once its prefix is complete (stamp, charon, swanctl)', () => {
    const key = spawnSync('bash', [join(root, STRONGSWAN6_BUILD_SCRIPT), '--key'], { encoding: 'utf8' });
    expect(key.status).toBe(0);
    const prefix = key.stdout.trim();
    expect(prefix.startsWith(join(cache, 'strongswan6', 'strongswan-6.0.6-'))).toBe(true);
    const p = strongswan6Paths(prefix);
    for (const bin of [p.charon, p.swanctl]) {
      mkdirSync(dirname(bin), { recursive: true });
      writeFileSync(bin, '#!/bin/sh\n');
      chmodSync(bin, 0o755);
    }
    expect(strongswan6Prefix()).toBeUndefined(); // no stamp yet: an interrupted build
    writeFileSync(join(prefix, '.complete'), 'strongswan=6.0.6\n');
    expect(strongswan6Prefix()).toBe(prefix);
    expect(names6(missingPrerequisites(SPEC))).toEqual([]);
  });
});
