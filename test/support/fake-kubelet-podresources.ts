// A stand-in kubelet for tests: a real @grpc/grpc-js server on a unix socket that speaks the
// PodResources v1 proto (the same .proto file the agent loads). The kubelet socket cannot exist
// on a test machine, so this is the one faked party; everything on the agent's side is real.
import { rm } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { podResourcesServiceDefinition } from '../../node-agent/src/gpu/pod-resources.ts';

export interface FakeContainer {
  name: string;
  devices: { resourceName: string; deviceIds: string[] }[];
}

export interface FakePod {
  namespace: string;
  name: string;
  containers: FakeContainer[];
}

function toWire(pod: FakePod): object {
  return {
    name: pod.name,
    namespace: pod.namespace,
    containers: pod.containers.map((c) => ({
      name: c.name,
      devices: c.devices.map((d) => ({ resource_name: d.resourceName, device_ids: d.deviceIds })),
      cpu_ids: ['2', '3'],
      memory: [],
      dynamic_resources: [],
    })),
  };
}

export class FakeKubelet {
  readonly socketPath: string;
  pods: FakePod[];
  /** Delay before answering List, to exercise the client's deadline. */
  delayMs = 0;
  listCalls = 0;
  readonly #server: grpc.Server;

  private constructor(socketPath: string, pods: FakePod[], server: grpc.Server) {
    this.socketPath = socketPath;
    this.pods = pods;
    this.#server = server;
  }

  static async start(socketPath: string, pods: FakePod[] = []): Promise<FakeKubelet> {
    const server = new grpc.Server();
    const kubelet = new FakeKubelet(socketPath, pods, server);
    server.addService(podResourcesServiceDefinition(), {
      List: (_call: unknown, callback: grpc.sendUnaryData<object>) => {
        kubelet.listCalls++;
        const reply = (): void => callback(null, { pod_resources: kubelet.pods.map(toWire) });
        if (kubelet.delayMs > 0) setTimeout(reply, kubelet.delayMs);
        else reply();
      },
      GetAllocatableResources: (_call: unknown, callback: grpc.sendUnaryData<object>) => {
        callback(null, { devices: [], cpu_ids: [], memory: [] });
      },
      Get: (_call: unknown, callback: grpc.sendUnaryData<object>) => {
        callback(
          { code: grpc.status.UNIMPLEMENTED, details: 'Get is not served by the fake' },
          null,
        );
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err === null ? resolve() : reject(err),
      );
    });
    return kubelet;
  }

  /** Stops serving and removes the socket, as a kubelet restart does. */
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.tryShutdown(() => resolve()));
    this.#server.forceShutdown();
    await rm(this.socketPath, { force: true });
  }
}
