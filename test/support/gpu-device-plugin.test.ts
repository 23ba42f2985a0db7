// The fake GPU plugin against a stand-in for the kubelet's side of the device-plugin API: it
// registers on the Registration socket, then answers ListAndWatch and Allocate as the kubelet
// calls them. The cluster suite (test/cluster/gpu.test.ts) runs it against the real kubelet.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  loadDevicePluginApi,
  startFakeGpuPlugin,
  type FakeGpuPlugin,
} from './gpu-device-plugin.ts';

interface RegisterRequest {
  version: string;
  endpoint: string;
  resourceName: string;
}

interface PluginClient extends grpc.Client {
  ListAndWatch(
    request: object,
  ): grpc.ClientReadableStream<{ devices: { ID: string; health: string }[] }>;
  Allocate(
    request: object,
    done: (
      err: grpc.ServiceError | null,
      res?: { containerResponses: { envs: Record<string, string> }[] },
    ) => void,
  ): void;
}

describe('the fake GPU device plugin', () => {
  let dir = '';
  let kubelet: grpc.Server | undefined;
  let plugin: FakeGpuPlugin | undefined;

  afterEach(async () => {
    await plugin?.stop();
    kubelet?.forceShutdown();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('registers with the kubelet, lists its devices and records allocations', async () => {
    dir = await mkdtemp(join(tmpdir(), 'device-plugins-'));
    const api = loadDevicePluginApi();
    const registered: RegisterRequest[] = [];
    kubelet = new grpc.Server();
    kubelet.addService((api.Registration as grpc.ServiceClientConstructor).service, {
      Register: (
        call: grpc.ServerUnaryCall<RegisterRequest, object>,
        done: grpc.sendUnaryData<object>,
      ) => {
        registered.push(call.request);
        done(null, {});
      },
    });
    await new Promise<void>((ok, fail) =>
      kubelet?.bindAsync(
        `unix://${join(dir, 'kubelet.sock')}`,
        grpc.ServerCredentials.createInsecure(),
        (err) => (err ? fail(err) : ok()),
      ),
    );

    plugin = await startFakeGpuPlugin(['GPU-a', 'GPU-b'], { dir });
    expect(registered).toEqual([
      expect.objectContaining({ version: 'v1beta1', resourceName: 'nvidia.com/gpu' }),
    ]);

    const Plugin = api.DevicePlugin as grpc.ServiceClientConstructor;
    const client = new Plugin(
      `unix://${join(dir, registered[0]?.endpoint ?? '')}`,
      grpc.credentials.createInsecure(),
    ) as unknown as PluginClient;
    const stream = client.ListAndWatch({});
    const first = await new Promise<{ devices: { ID: string; health: string }[] }>((ok, fail) => {
      stream.once('data', ok);
      stream.once('error', fail);
    });
    expect(first.devices).toEqual([
      { ID: 'GPU-a', health: 'Healthy' },
      { ID: 'GPU-b', health: 'Healthy' },
    ]);
    const answer = await new Promise<{ containerResponses: { envs: Record<string, string> }[] }>(
      (ok, fail) =>
        client.Allocate({ containerRequests: [{ devicesIds: ['GPU-b'] }] }, (err, res) =>
          err || !res ? fail(err ?? new Error('no answer')) : ok(res),
        ),
    );
    expect(answer.containerResponses[0]?.envs).toEqual({ NVIDIA_VISIBLE_DEVICES: 'GPU-b' });
    expect(plugin.allocations).toEqual([['GPU-b']]);
    stream.cancel();
    client.close();
  });
});
