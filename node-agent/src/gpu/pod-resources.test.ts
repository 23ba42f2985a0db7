import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeKubelet } from '../../../test/support/fake-kubelet-podresources.ts';
import type { PodRef } from './pod-resources.ts';
import {
  PodResourcesClient,
  PodResourcesError,
  isGpuResource,
  parseDeviceId,
  resolveAllocations,
} from './pod-resources.ts';

describe('parseDeviceId', () => {
  it.each([
    [
      'GPU-5e2b7f0c-3d1a-4c8e-9b6f-2a7d4e1c8b93',
      { kind: 'gpu', uuid: 'GPU-5e2b7f0c-3d1a-4c8e-9b6f-2a7d4e1c8b93', replica: null },
    ],
    [
      'GPU-5e2b7f0c-3d1a-4c8e-9b6f-2a7d4e1c8b93::3',
      { kind: 'gpu', uuid: 'GPU-5e2b7f0c-3d1a-4c8e-9b6f-2a7d4e1c8b93', replica: 3 },
    ],
    [
      'MIG-3f9d2c71-0a5e-5b8c-9e14-7a6b3c2d1e0f',
      { kind: 'mig', uuid: 'MIG-3f9d2c71-0a5e-5b8c-9e14-7a6b3c2d1e0f', replica: null },
    ],
    [
      'MIG-GPU-8c0e4a4d-61b2-4f6a-b1f3-5d7c2e9a0b14/2/0',
      { kind: 'mig-legacy', gpuUuid: 'GPU-8c0e4a4d-61b2-4f6a-b1f3-5d7c2e9a0b14', gi: 2 },
    ],
    ['nvidia0', { kind: 'minor', minor: 0, gi: null, replica: null }],
    ['nvidia1/vgpu4', { kind: 'minor', minor: 1, gi: null, replica: 4 }],
    ['nvidia0/gi1/vgpu2', { kind: 'minor', minor: 0, gi: 1, replica: 2 }],
    ['amd-gpu-0', { kind: 'unknown', raw: 'amd-gpu-0' }],
  ])('%s', (raw, expected) => {
    expect(parseDeviceId(raw)).toEqual(expected);
  });
});

describe('isGpuResource', () => {
  it('takes nvidia.com/gpu, the MIG family and configured extras', () => {
    expect(isGpuResource('nvidia.com/gpu')).toBe(true);
    expect(isGpuResource('nvidia.com/mig-3g.20gb')).toBe(true);
    expect(isGpuResource('nvidia.com/gpu.shared')).toBe(false);
    expect(isGpuResource('nvidia.com/gpu.shared', ['nvidia.com/gpu.shared'])).toBe(true);
    expect(isGpuResource('example.com/fpga')).toBe(false);
  });
});

describe('resolveAllocations', () => {
  it('joins pods by namespace and name and drops finished and unknown pods', () => {
    const pods: Record<string, PodRef> = {
      'ml/run': { uid: 'u-run', phase: 'Running' },
      'ml/done': { uid: 'u-done', phase: 'Succeeded' },
      'ml/failed': { uid: 'u-failed', phase: 'Failed' },
    };
    const r = resolveAllocations(
      ['run', 'done', 'failed', 'new'].map((name) => ({
        namespace: 'ml',
        name,
        container: 'c',
        resource: 'nvidia.com/gpu',
        deviceIds: ['GPU-1'],
      })),
      (ns, name) => pods[`${ns}/${name}`],
    );
    expect(r.holdings.map((h) => h.podUid)).toEqual(['u-run']);
    expect(r.unknownPods).toEqual([{ namespace: 'ml', name: 'new' }]);
  });
});

describe('PodResourcesClient against a gRPC server on a unix socket', () => {
  let dir: string;
  let socket: string;
  let kubelet: FakeKubelet | null = null;
  let client: PodResourcesClient;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'podres-'));
    socket = path.join(dir, 'kubelet.sock');
    client = new PodResourcesClient({ socketPath: socket, deadlineMs: 500 });
  });
  afterEach(async () => {
    client.close();
    await kubelet?.stop();
    kubelet = null;
    await rm(dir, { recursive: true, force: true });
  });

  const pods = [
    {
      namespace: 'agents',
      name: 'trainer',
      containers: [
        {
          name: 'main',
          devices: [
            { resourceName: 'nvidia.com/gpu', deviceIds: ['GPU-a', 'GPU-b'] },
            { resourceName: 'example.com/nic', deviceIds: ['nic0'] },
          ],
        },
        { name: 'sidecar', devices: [] },
      ],
    },
    {
      namespace: 'agents',
      name: 'infer',
      containers: [
        {
          name: 'vllm',
          devices: [{ resourceName: 'nvidia.com/mig-3g.20gb', deviceIds: ['MIG-x'] }],
        },
      ],
    },
  ];

  it('lists GPU devices per container and skips other resources', async () => {
    kubelet = await FakeKubelet.start(socket, pods);
    expect(await client.list()).toEqual([
      {
        namespace: 'agents',
        name: 'trainer',
        container: 'main',
        resource: 'nvidia.com/gpu',
        deviceIds: ['GPU-a', 'GPU-b'],
      },
      {
        namespace: 'agents',
        name: 'infer',
        container: 'vllm',
        resource: 'nvidia.com/mig-3g.20gb',
        deviceIds: ['MIG-x'],
      },
    ]);
  });

  it('reports a missing socket without waiting for a deadline', async () => {
    const err = await client.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PodResourcesError);
    expect((err as PodResourcesError).code).toBe('socket_missing');
  });

  it('recovers after a kubelet restart that creates a new socket inode', async () => {
    kubelet = await FakeKubelet.start(socket, pods);
    expect(await client.list()).toHaveLength(2);
    await kubelet.stop();
    expect(((await client.list().catch((e: unknown) => e)) as PodResourcesError).code).toBe(
      'socket_missing',
    );
    kubelet = await FakeKubelet.start(socket, pods.slice(1));
    expect(await client.list()).toHaveLength(1);
    // Restarted again between two calls: the client never sees the socket missing.
    await kubelet.stop();
    kubelet = await FakeKubelet.start(socket, pods);
    expect(await client.list()).toHaveLength(2);
  });

  it('gives up at the deadline', async () => {
    kubelet = await FakeKubelet.start(socket, pods);
    kubelet.delayMs = 2_000;
    const err = (await client.list().catch((e: unknown) => e)) as PodResourcesError;
    expect(err.code).toBe('grpc');
    expect(err.grpcStatus).toBe('DEADLINE_EXCEEDED');
  });
});
