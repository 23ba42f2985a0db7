import { describe, expect, it } from 'vitest';
import { baselinesFromCheckpoint, baselinesToCheckpoint } from './checkpoint.ts';
import type { SamplerBaselines } from './tick.ts';

describe('checkpoint round trip', () => {
  it('restores exactly the baselines it stored', () => {
    const baselines: SamplerBaselines = {
      pods: new Map([
        [
          'uid-a',
          {
            identity: '11,12,13',
            cpuNs: 2n ** 63n,
            ioReadBytes: 5n,
            ioWriteBytes: 6n,
            netNs: 'net:[4026531993]',
            netRxBytes: 7n,
            netTxBytes: 8n,
            memoryWorkingSetBytes: 9n,
            memoryRssBytes: 10n,
            memoryCarry: 999_999_999n,
            rssCarry: 0n,
          },
        ],
        ['uid-b', { identity: '21', cpuNs: 1n }],
      ]),
      node: { identity: 'node', cpuNs: 100n, memoryWorkingSetBytes: 3n },
    };
    expect(baselinesFromCheckpoint(baselinesToCheckpoint(baselines))).toEqual(baselines);
  });
});
