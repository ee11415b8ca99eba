import { describe, expect, it } from 'vitest';
import { streamLoss } from '../../lab/udp-sequence-loss.js';

describe('streamLoss', () => {
  it('finds the longest run of missing datagrams per stream, ignoring other payloads and duplicates', () => {
    const text = ['P a-b 0', 'P a-b 1', 'P a-b 4', 'P a-b 4', 'P a-b 5', 'Q a-b 2', 'P b-a 2', 'P b-a 3', 'garbage', 'P b-a 9'].join('\n');
    expect(streamLoss(text, 'P')).toEqual([
      { stream: 'a-b', received: 4, last: 5, missing: 2, longestRun: 2 },
      { stream: 'b-a', received: 3, last: 9, missing: 7, longestRun: 5 },
    ]);
  });
});
