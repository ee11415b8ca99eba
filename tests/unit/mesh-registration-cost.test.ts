// withoutStackTraces: the stack trace limit is 0 inside and restored after, even on a throw.
import { describe, expect, it } from 'vitest';
import { withoutStackTraces } from '../../components/mesh/registration-cost.js';

describe('withoutStackTraces', () => {
  it('captures no frames inside and restores the limit afterwards', () => {
    const before = Error.stackTraceLimit;
    const inside = withoutStackTraces(() => ({ limit: Error.stackTraceLimit, stack: new Error('x').stack ?? '' }));
    expect(inside.limit).toBe(0);
    expect(inside.stack).not.toMatch(/\n\s+at /);
    expect(Error.stackTraceLimit).toBe(before);
    expect(new Error('y').stack).toMatch(/\n\s+at /);
  });

  it('restores the limit when the block throws', () => {
    const before = Error.stackTraceLimit;
    expect(() =>
      withoutStackTraces(() => {
        throw new Error('registration failed');
      }),
    ).toThrow('registration failed');
    expect(Error.stackTraceLimit).toBe(before);
  });
});
