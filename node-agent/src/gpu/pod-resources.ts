// Which pod holds which GPU, from the kubelet's PodResources API (gRPC List on a unix socket).
// The agent mounts the socket's directory, not the socket: a kubelet restart creates a new
// socket inode, which a file mount would never see. The channel is rebuilt when that happens.
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const DEFAULT_POD_RESOURCES_SOCKET = '/var/lib/kubelet/pod-resources/kubelet.sock';
export const DEFAULT_POD_RESOURCES_DEADLINE_MS = 5_000;

export const PROTO_PATH = fileURLToPath(new URL('./proto/podresources-v1.proto', import.meta.url));

/** One container's GPU devices, as the kubelet reports them. */
export interface PodDeviceAllocation {
  namespace: string;
  name: string;
  container: string;
  resource: string;
  deviceIds: string[];
}

export type PodResourcesErrorCode = 'socket_missing' | 'grpc';

export class PodResourcesError extends Error {
  override readonly name = 'PodResourcesError';
  readonly code: PodResourcesErrorCode;
  readonly socketPath: string;
  /** gRPC status code name, when the call itself failed. */
  readonly grpcStatus: string | null;

  constructor(
    code: PodResourcesErrorCode,
    socketPath: string,
    detail: string,
    grpcStatus: string | null = null,
  ) {
    super(`pod-resources ${socketPath}: ${code}: ${detail}`);
    this.code = code;
    this.socketPath = socketPath;
    this.grpcStatus = grpcStatus;
  }
}

/** `nvidia.com/gpu`, the `nvidia.com/mig-*` family, and configured extras (e.g. `nvidia.com/gpu.shared`). */
export function isGpuResource(name: string, extra: readonly string[] = []): boolean {
  return name === 'nvidia.com/gpu' || name.startsWith('nvidia.com/mig-') || extra.includes(name);
}

export type ParsedDeviceId =
  /** `GPU-<uuid>`, or `GPU-<uuid>::N` for a time-slicing replica. */
  | { kind: 'gpu'; uuid: string; replica: number | null }
  /** `MIG-<uuid>` (driver ≥ 470), optionally `::N`. */
  | { kind: 'mig'; uuid: string; replica: number | null }
  /** `MIG-GPU-<uuid>/<gi>/<ci>` (drivers before 470 named MIG devices by parent and instance). */
  | { kind: 'mig-legacy'; gpuUuid: string; gi: number }
  /** GKE: `nvidia0`, `nvidia0/vgpuN`, `nvidia0/gi1`, `nvidia0/gi1/vgpuN`. */
  | { kind: 'minor'; minor: number; gi: number | null; replica: number | null }
  | { kind: 'unknown'; raw: string };

const UUID_ID = /^(GPU|MIG)-([0-9a-fA-F-]+)(?:::(\d+))?$/;
const MIG_LEGACY = /^MIG-(GPU-[0-9a-fA-F-]+)\/(\d+)\/\d+$/;
const MINOR_ID = /^nvidia(\d+)(?:\/gi(\d+))?(?:\/vgpu(\d+))?$/;

export function parseDeviceId(raw: string): ParsedDeviceId {
  const legacy = MIG_LEGACY.exec(raw);
  if (legacy !== null)
    return { kind: 'mig-legacy', gpuUuid: legacy[1] as string, gi: Number(legacy[2]) };
  const u = UUID_ID.exec(raw);
  if (u !== null) {
    const replica = u[3] === undefined ? null : Number(u[3]);
    const uuid = `${u[1]}-${u[2]}`;
    return u[1] === 'GPU' ? { kind: 'gpu', uuid, replica } : { kind: 'mig', uuid, replica };
  }
  const m = MINOR_ID.exec(raw);
  if (m !== null) {
    return {
      kind: 'minor',
      minor: Number(m[1]),
      gi: m[2] === undefined ? null : Number(m[2]),
      replica: m[3] === undefined ? null : Number(m[3]),
    };
  }
  return { kind: 'unknown', raw };
}

export interface PodRef {
  uid: string;
  /** Pod phase: Pending, Running, Succeeded, Failed, Unknown. */
  phase: string;
}

/** Resolves a pod by namespace and name (the response carries no UID), e.g. from the node's pod watch. */
export type LookupPod = (namespace: string, name: string) => PodRef | undefined;

export interface DeviceHolding {
  podUid: string;
  namespace: string;
  name: string;
  deviceId: string;
  device: ParsedDeviceId;
}

export interface ResolvedAllocations {
  holdings: DeviceHolding[];
  /** Pods the lookup does not know yet; their devices count as unallocated this tick. */
  unknownPods: { namespace: string; name: string }[];
}

const FINISHED = new Set(['Succeeded', 'Failed']);

/**
 * Joins allocations to pod UIDs and drops finished pods: the kubelet has been seen to report
 * terminal pods and stale assignments (k8s #119423, #132020).
 */
export function resolveAllocations(
  allocs: readonly PodDeviceAllocation[],
  lookupPod: LookupPod,
): ResolvedAllocations {
  const holdings: DeviceHolding[] = [];
  const unknown = new Map<string, { namespace: string; name: string }>();
  for (const a of allocs) {
    const pod = lookupPod(a.namespace, a.name);
    if (pod === undefined) {
      unknown.set(`${a.namespace}/${a.name}`, { namespace: a.namespace, name: a.name });
      continue;
    }
    if (FINISHED.has(pod.phase)) continue;
    for (const id of a.deviceIds) {
      holdings.push({
        podUid: pod.uid,
        namespace: a.namespace,
        name: a.name,
        deviceId: id,
        device: parseDeviceId(id),
      });
    }
  }
  return { holdings, unknownPods: [...unknown.values()] };
}

export interface PodResourcesClientOptions {
  socketPath?: string;
  deadlineMs?: number;
  /** Resource names counted as GPUs besides `nvidia.com/gpu` and `nvidia.com/mig-*`. */
  extraResourceNames?: readonly string[];
}

interface WireDevices {
  resource_name: string;
  device_ids: string[];
}
interface WireContainer {
  name: string;
  devices: WireDevices[];
}
interface WirePod {
  name: string;
  namespace: string;
  containers: WireContainer[];
}
interface ListResponse {
  pod_resources: WirePod[];
}
interface ListerClient extends grpc.Client {
  List(
    req: object,
    options: grpc.CallOptions,
    callback: (err: grpc.ServiceError | null, res?: ListResponse) => void,
  ): grpc.ClientUnaryCall;
}
type ListerCtor = new (address: string, creds: grpc.ChannelCredentials) => ListerClient;

let listerCtor: ListerCtor | null = null;

function loadLister(): ListerCtor {
  if (listerCtor !== null) return listerCtor;
  const def = protoLoader.loadSync(PROTO_PATH, {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    arrays: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    v1: { PodResourcesLister: ListerCtor };
  };
  listerCtor = pkg.v1.PodResourcesLister;
  return listerCtor;
}

/** The loaded service definition, for servers (the test kubelet) that speak the same proto. */
export function podResourcesServiceDefinition(): grpc.ServiceDefinition {
  return (loadLister() as unknown as { service: grpc.ServiceDefinition }).service;
}

export class PodResourcesClient {
  readonly socketPath: string;
  readonly deadlineMs: number;
  readonly #extra: readonly string[];
  #client: ListerClient | null = null;
  #inode: bigint | null = null;

  constructor(opts: PodResourcesClientOptions = {}) {
    this.socketPath = opts.socketPath ?? DEFAULT_POD_RESOURCES_SOCKET;
    this.deadlineMs = opts.deadlineMs ?? DEFAULT_POD_RESOURCES_DEADLINE_MS;
    this.#extra = opts.extraResourceNames ?? [];
  }

  /** GPU allocations of every pod the kubelet reports; rejects with {@link PodResourcesError}. */
  async list(): Promise<PodDeviceAllocation[]> {
    const client = await this.#connect();
    const res = await new Promise<ListResponse>((resolve, reject) => {
      client.List({}, { deadline: Date.now() + this.deadlineMs }, (err, value) => {
        if (err !== null || value === undefined) {
          // Rebuild the channel next time: the kubelet may be restarting.
          this.close();
          const status = err === null ? null : (grpc.status[err.code] ?? String(err.code));
          reject(
            new PodResourcesError(
              'grpc',
              this.socketPath,
              err?.details ?? 'empty response',
              status,
            ),
          );
        } else resolve(value);
      });
    });
    const out: PodDeviceAllocation[] = [];
    for (const pod of res.pod_resources) {
      for (const c of pod.containers) {
        for (const d of c.devices) {
          if (!isGpuResource(d.resource_name, this.#extra) || d.device_ids.length === 0) continue;
          out.push({
            namespace: pod.namespace,
            name: pod.name,
            container: c.name,
            resource: d.resource_name,
            deviceIds: [...d.device_ids],
          });
        }
      }
    }
    return out;
  }

  close(): void {
    this.#client?.close();
    this.#client = null;
    this.#inode = null;
  }

  async #connect(): Promise<ListerClient> {
    let inode: bigint;
    try {
      const st = await stat(this.socketPath, { bigint: true });
      if (!st.isSocket())
        throw new PodResourcesError('socket_missing', this.socketPath, 'not a socket');
      inode = st.ino;
    } catch (err) {
      this.close();
      if (err instanceof PodResourcesError) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new PodResourcesError('socket_missing', this.socketPath, `stat: ${code}`);
    }
    if (this.#client !== null && this.#inode === inode) return this.#client;
    this.close();
    const Lister = loadLister();
    this.#client = new Lister(`unix:${this.socketPath}`, grpc.credentials.createInsecure());
    this.#inode = inode;
    return this.#client;
  }
}
