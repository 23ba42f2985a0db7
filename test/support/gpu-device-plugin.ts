// A device plugin for GPUs this machine does not have: the one fake the cluster suites allow
// (the GPU and its driver). It speaks the real kubelet's device-plugin API v1beta1 over gRPC:
// it serves DevicePlugin on a socket in the kubelet's device-plugin directory and registers it
// through the kubelet's Registration socket, so the kubelet advertises `nvidia.com/gpu`,
// schedules pods against it, allocates devices and reports them through PodResources.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Fixed by the kubelet whatever its --root-dir (see the real-node reference). */
export const DEVICE_PLUGIN_DIR = '/var/lib/kubelet/device-plugins';
const PROTO = fileURLToPath(new URL('./proto/deviceplugin-v1beta1.proto', import.meta.url));
const ENDPOINT = 'agentmeter-fake-gpu.sock';

interface Device {
  ID: string;
  health: string;
}

export interface FakeGpuPlugin {
  /** Device ids the kubelet asked to allocate, one list per container, in call order. */
  readonly allocations: string[][];
  stop(): Promise<void>;
}

type Handler = grpc.UntypedServiceImplementation;

interface RegistrationClient extends grpc.Client {
  Register(
    request: object,
    options: grpc.CallOptions,
    done: (err: grpc.ServiceError | null) => void,
  ): void;
}

/** The v1beta1 package: Registration (served by the kubelet) and DevicePlugin (by plugins). */
export function loadDevicePluginApi(): grpc.GrpcObject {
  const definition = protoLoader.loadSync(PROTO, {
    keepCase: false,
    longs: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).v1beta1 as grpc.GrpcObject;
}

export interface FakeGpuPluginOptions {
  /** The kubelet's device-plugin directory, where its kubelet.sock is. */
  readonly dir?: string;
  readonly resourceName?: string;
}

export async function startFakeGpuPlugin(
  deviceIds: readonly string[],
  options: FakeGpuPluginOptions = {},
): Promise<FakeGpuPlugin> {
  const dir = options.dir ?? DEVICE_PLUGIN_DIR;
  const resourceName = options.resourceName ?? 'nvidia.com/gpu';
  const api = loadDevicePluginApi();
  const devicePlugin = api.DevicePlugin as grpc.ServiceClientConstructor;
  const registration = api.Registration as grpc.ServiceClientConstructor;
  const allocations: string[][] = [];
  const streams = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  const devices: Device[] = deviceIds.map((ID) => ({ ID, health: 'Healthy' }));

  const handlers: Handler = {
    GetDevicePluginOptions: (_call: unknown, done: grpc.sendUnaryData<object>) => done(null, {}),
    // The kubelet keeps this stream open for the plugin's life and reads the device list from it.
    ListAndWatch: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      streams.add(call);
      call.on('cancelled', () => streams.delete(call));
      call.write({ devices });
    },
    GetPreferredAllocation: (_call: unknown, done: grpc.sendUnaryData<object>) =>
      done(null, { containerResponses: [] }),
    Allocate: (
      call: grpc.ServerUnaryCall<{ containerRequests: { devicesIds: string[] }[] }, unknown>,
      done: grpc.sendUnaryData<object>,
    ) => {
      const containerResponses = call.request.containerRequests.map((req) => {
        allocations.push([...req.devicesIds]);
        // What NVIDIA's plugin hands the container runtime; nothing here reads it.
        return { envs: { NVIDIA_VISIBLE_DEVICES: req.devicesIds.join(',') } };
      });
      done(null, { containerResponses });
    },
    PreStartContainer: (_call: unknown, done: grpc.sendUnaryData<object>) => done(null, {}),
  };

  const socket = join(dir, ENDPOINT);
  await rm(socket, { force: true });
  const server = new grpc.Server();
  server.addService(devicePlugin.service, handlers);
  await new Promise<void>((done, fail) =>
    server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) =>
      err ? fail(err) : done(),
    ),
  );

  const client = new registration(
    `unix://${join(dir, 'kubelet.sock')}`,
    grpc.credentials.createInsecure(),
  ) as unknown as RegistrationClient;
  try {
    await new Promise<void>((done, fail) =>
      client.Register(
        { version: 'v1beta1', endpoint: ENDPOINT, resourceName, options: {} },
        { deadline: Date.now() + 10_000 },
        (err: grpc.ServiceError | null) =>
          err ? fail(new Error(`kubelet refused the device plugin: ${err.message}`)) : done(),
      ),
    );
  } catch (err) {
    server.forceShutdown();
    throw err;
  } finally {
    client.close();
  }

  return {
    allocations,
    stop: async () => {
      for (const s of streams) s.end();
      await new Promise<void>((done) => server.tryShutdown(() => done()));
      await rm(socket, { force: true });
    },
  };
}
