// The upgrade tests build an old release against this checkout's node_modules: allowed only
// when every package the old release pinned is installed here unchanged (additions are fine).
import { describe, expect, it } from 'vitest';
import { changedPackages } from '../../lab/previous-release.js';

const lock = (packages: Record<string, unknown>): string => JSON.stringify({ lockfileVersion: 3, packages });

describe('changedPackages', () => {
  const then = lock({ '': { dependencies: { a: '1.0.0' } }, 'node_modules/a': { version: '1.0.0', integrity: 'sha512-a' } });

  it('allows packages added since (and a changed root entry)', () => {
    const now = lock({ '': { dependencies: { a: '1.0.0', b: '2.0.0' } }, 'node_modules/a': { version: '1.0.0', integrity: 'sha512-a' }, 'node_modules/b': { version: '2.0.0' } });
    expect(changedPackages(then, now)).toEqual([]);
  });

  it('names a package upgraded or removed since', () => {
    expect(changedPackages(then, lock({ 'node_modules/a': { version: '1.0.1', integrity: 'sha512-b' } }))).toEqual(['node_modules/a']);
    expect(changedPackages(then, lock({}))).toEqual(['node_modules/a']);
  });
});
