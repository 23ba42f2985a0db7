import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DcgmError, parseDcgmMetrics, ratioToPpm, scrapeDcgm, selectFresh } from './dcgm.ts';

const U0 = 'GPU-8c0e4a4d-61b2-4f6a-b1f3-5d7c2e9a0b14';

// Shaped like dcgm-exporter 3.x output: HELP/TYPE lines, base labels, pod labels, MIG labels.
const EXPOSITION = `# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-1",device="nvidia1",modelName="NVIDIA A10G",Hostname="node-1"} 80
# HELP DCGM_FI_PROF_GR_ENGINE_ACTIVE Ratio of time the graphics engine is active.
# TYPE DCGM_FI_PROF_GR_ENGINE_ACTIVE gauge
DCGM_FI_PROF_GR_ENGINE_ACTIVE{gpu="0",UUID="${U0}",device="nvidia0",modelName="NVIDIA A100-SXM4-40GB",GPU_I_PROFILE="3g.20gb",GPU_I_ID="1",Hostname="node-1",container="main",namespace="agents",pod="a"} 0.653211
DCGM_FI_PROF_GR_ENGINE_ACTIVE{gpu="0",UUID="${U0}",device="nvidia0",modelName="NVIDIA A100-SXM4-40GB",GPU_I_PROFILE="3g.20gb",GPU_I_ID="2",Hostname="node-1"} 1.2e-01
DCGM_FI_PROF_GR_ENGINE_ACTIVE{gpu="1",UUID="GPU-1",device="nvidia1",modelName="NVIDIA \\"A10G\\"",Hostname="node-1"} 0.000000
DCGM_FI_PROF_GR_ENGINE_ACTIVE{gpu="2",UUID="GPU-2",device="nvidia2",Hostname="node-1"} NaN
DCGM_FI_PROF_GR_ENGINE_ACTIVE{gpu="3",UUID="GPU-3",device="nvidia3",Hostname="node-1"} 0.5 1700000000000
`;

describe('ratioToPpm', () => {
  it.each([
    ['0', 0n],
    ['1', 1_000_000n],
    ['0.653211', 653_211n],
    ['0.6532119', 653_211n],
    ['6.5e-01', 650_000n],
    ['1e-05', 10n],
    ['1.0000003', 1_000_000n],
    ['.5', 500_000n],
  ])('%s → %s', (text, ppm) => {
    expect(ratioToPpm(text)).toBe(ppm);
  });

  it.each(['NaN', '+Inf', '-0.5', '', 'abc', '0x10'])('rejects %s', (text) => {
    expect(ratioToPpm(text)).toBeNull();
  });
});

describe('parseDcgmMetrics / selectFresh', () => {
  it('keys whole GPUs by UUID and MIG instances by UUID and GPU_I_ID', () => {
    const series = parseDcgmMetrics(EXPOSITION);
    expect(series).toEqual([
      { key: `${U0}/gi1`, ppm: 653_211n, timestampMs: null },
      { key: `${U0}/gi2`, ppm: 120_000n, timestampMs: null },
      { key: 'GPU-1', ppm: 0n, timestampMs: null },
      { key: 'GPU-3', ppm: 500_000n, timestampMs: 1_700_000_000_000n },
    ]);
    const fresh = selectFresh(series, 1_700_000_100_000n, 60_000n);
    expect(fresh.stale).toEqual(['GPU-3']);
    expect([...fresh.ppm.keys()]).toEqual([`${U0}/gi1`, `${U0}/gi2`, 'GPU-1']);
  });
});

describe('scrapeDcgm', () => {
  let close: (() => void) | null = null;
  afterEach(() => {
    close?.();
    close = null;
  });

  async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
    const server = createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    close = () => server.closeAllConnections() ?? server.close();
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
  }

  it('fetches the exposition', async () => {
    const url = await serve((_req, res) => res.end(EXPOSITION));
    expect(await scrapeDcgm(url)).toBe(EXPOSITION);
  });

  it('times out, refuses errors and oversized bodies', async () => {
    const hang = await serve((req, res) => {
      if (req.url === '/big') res.end('x'.repeat(2048));
      else if (req.url === '/500') {
        res.statusCode = 500;
        res.end();
      }
    });
    const base = hang.replace('/metrics', '');
    await expect(scrapeDcgm(hang, 200)).rejects.toThrow(DcgmError);
    await expect(scrapeDcgm(`${base}/500`)).rejects.toThrow(/HTTP 500/);
    await expect(scrapeDcgm(`${base}/big`, 1000, 1024)).rejects.toThrow(/exceeds/);
  });
});
