// The agent's view of the pods on its own node: one watch with a field selector on the node
// name (never a cluster-wide list), indexed by the UIDs that appear in cgroup paths and by IP.
import { Informer } from '@agentmeter/kube-client';
import type {
  BackoffOptions,
  InformerLogger,
  RestClient,
  RestartReason,
} from '@agentmeter/kube-client';
import type { V1Pod } from '@kubernetes/client-node';
import { cgroupUidOf, slimPod, toPodMeta } from './pod-meta.ts';
import type { PodMeta } from './pod-meta.ts';

/** Why a pod's cgroup is expected to stop: the object was deleted, or its phase became
 * Succeeded/Failed. Each pod is reported gone once. */
export type PodGoneReason = 'deleted' | 'terminated';

export interface PodWatchEventMap {
  /** A pod appeared (or its metadata first arrived): usage held for its cgroup can be joined. */
  added: [meta: PodMeta];
  updated: [meta: PodMeta, old: PodMeta];
  /** Take the pod's final sample; `cgroupUid` is the UID in its cgroup path. */
  gone: [cgroupUid: string, meta: PodMeta, reason: PodGoneReason];
  synced: [];
  /** The pod watch failed and will be retried after `retryInMs`. */
  error: [err: unknown, retryInMs: number];
  restart: [reason: RestartReason];
}

export type PodWatchEvent = keyof PodWatchEventMap;
type Handler<K extends PodWatchEvent> = (...args: PodWatchEventMap[K]) => void;

export interface PodWatchOptions {
  readonly client: RestClient;
  readonly nodeName: string;
  readonly logger?: InformerLogger;
  readonly backoff?: BackoffOptions;
  /** How long a deleted pod's metadata stays resolvable by cgroup UID. Default 10 min. */
  readonly tombstoneTtlMs?: number;
  /** Most tombstones kept; the oldest go first. Default 4096. */
  readonly tombstoneMax?: number;
  readonly now?: () => number;
}

const DEFAULT_TOMBSTONE_TTL_MS = 10 * 60_000;
const DEFAULT_TOMBSTONE_MAX = 4096;
const noopLogger: InformerLogger = { debug() {}, warn() {}, error() {} };

export class PodWatch {
  readonly nodeName: string;
  readonly #informer: Informer<V1Pod>;
  readonly #log: InformerLogger;
  readonly #tombstoneTtlMs: number;
  readonly #tombstoneMax: number;
  readonly #now: () => number;
  readonly #handlers: { [K in PodWatchEvent]: Handler<K>[] } = {
    added: [],
    updated: [],
    gone: [],
    synced: [],
    error: [],
    restart: [],
  };

  /** Live pods by metadata.uid. */
  readonly #live = new Map<string, PodMeta>();
  /** cgroup UID (config hash for static pods) → metadata.uid. */
  readonly #byCgroup = new Map<string, string>();
  readonly #byIp = new Map<string, Set<string>>();
  /** Deleted pods by cgroup UID, oldest first (Map keeps insertion order). */
  readonly #tombstones = new Map<string, { meta: PodMeta; until: number }>();
  /** metadata.uids already reported gone while still present (terminated, not yet deleted). */
  readonly #goneReported = new Set<string>();

  constructor(options: PodWatchOptions) {
    if (!options.nodeName) throw new Error('PodWatch needs a node name');
    this.nodeName = options.nodeName;
    this.#log = options.logger ?? noopLogger;
    this.#tombstoneTtlMs = options.tombstoneTtlMs ?? DEFAULT_TOMBSTONE_TTL_MS;
    this.#tombstoneMax = options.tombstoneMax ?? DEFAULT_TOMBSTONE_MAX;
    this.#now = options.now ?? Date.now;
    this.#informer = new Informer<V1Pod>({
      client: options.client,
      path: '/api/v1/pods',
      fieldSelector: `spec.nodeName=${options.nodeName}`,
      transform: slimPod,
      logger: this.#log,
      ...(options.backoff ? { backoff: options.backoff } : {}),
    });
    this.#informer.on('add', (pod) => this.#guard('add', () => this.#add(toPodMeta(pod))));
    this.#informer.on('update', (pod, old) => this.#guard('update', () => this.#update(pod, old)));
    this.#informer.on('delete', (pod) => this.#guard('delete', () => this.#delete(pod)));
    this.#informer.on('synced', () => this.#emit('synced'));
    this.#informer.on('error', (err, ms) => this.#emit('error', err, ms));
    this.#informer.on('restart', (reason) => this.#emit('restart', reason));
  }

  start(): void {
    this.#informer.start();
  }

  stop(): Promise<void> {
    return this.#informer.stop();
  }

  /** True once the first LIST of this node's pods has been applied. */
  get synced(): boolean {
    return this.#informer.synced;
  }

  whenSynced(): Promise<void> {
    return this.#informer.whenSynced();
  }

  on<K extends PodWatchEvent>(event: K, handler: Handler<K>): () => void {
    const list = this.#handlers[event] as Handler<K>[];
    list.push(handler);
    return () => {
      const i = list.indexOf(handler);
      if (i >= 0) list.splice(i, 1);
    };
  }

  /** Shorthand for `on('gone', …)`: the sampler's cue for a final sample. */
  onPodGone(handler: Handler<'gone'>): () => void {
    return this.on('gone', handler);
  }

  /** A live pod by metadata.uid. */
  byUid(uid: string): PodMeta | undefined {
    return this.#live.get(uid);
  }

  /**
   * The pod whose cgroup carries `cgroupUid`: a live pod by its UID, a static pod's mirror by
   * config hash, or a recently deleted pod (so a final sample after DELETE still resolves).
   */
  byCgroupUid(cgroupUid: string): PodMeta | undefined {
    const uid = this.#byCgroup.get(cgroupUid);
    if (uid !== undefined) return this.#live.get(uid);
    this.#pruneTombstones();
    return this.#tombstones.get(cgroupUid)?.meta;
  }

  /** Live, non-terminated pods with this IP (several when they share the host network). */
  byIp(ip: string): PodMeta[] {
    const uids = this.#byIp.get(ip);
    if (!uids) return [];
    const out: PodMeta[] = [];
    for (const uid of uids) {
      const meta = this.#live.get(uid);
      if (meta) out.push(meta);
    }
    return out;
  }

  /** Live pods (including terminated ones not yet deleted). */
  list(): PodMeta[] {
    return [...this.#live.values()];
  }

  #add(meta: PodMeta): void {
    this.#index(meta);
    this.#emit('added', meta);
    if (meta.terminated) this.#reportTerminated(meta);
  }

  #update(pod: V1Pod, oldPod: V1Pod): void {
    const meta = toPodMeta(pod);
    const old = this.#live.get(oldPod.metadata?.uid ?? '');
    if (!old) {
      this.#add(meta);
      return;
    }
    if (old.uid !== meta.uid) {
      // Same namespace/name, new UID: the pod was deleted and recreated while the watch was
      // down, and the relist shows it as an update.
      this.#forget(old, 'deleted');
      this.#add(meta);
      return;
    }
    this.#unindex(old);
    this.#index(meta);
    this.#emit('updated', meta, old);
    if (meta.terminated && !old.terminated) this.#reportTerminated(meta);
  }

  #delete(pod: V1Pod): void {
    const cached = this.#live.get(pod.metadata?.uid ?? '');
    // The DELETE carries the final object (with deletionTimestamp); fall back to the cached one.
    let meta: PodMeta;
    try {
      meta = toPodMeta(pod);
    } catch (err) {
      if (!cached) throw err;
      meta = cached;
    }
    if (cached) this.#unindex(cached);
    this.#forget(meta, 'deleted');
  }

  #forget(meta: PodMeta, reason: PodGoneReason): void {
    this.#unindex(meta);
    const cgroupUid = cgroupUidOf(meta);
    this.#tombstones.delete(cgroupUid);
    this.#tombstones.set(cgroupUid, { meta, until: this.#now() + this.#tombstoneTtlMs });
    this.#pruneTombstones();
    const alreadyReported = this.#goneReported.delete(meta.uid);
    if (!alreadyReported) this.#emit('gone', cgroupUid, meta, reason);
  }

  #reportTerminated(meta: PodMeta): void {
    if (this.#goneReported.has(meta.uid)) return;
    this.#goneReported.add(meta.uid);
    this.#emit('gone', cgroupUidOf(meta), meta, 'terminated');
  }

  #index(meta: PodMeta): void {
    this.#live.set(meta.uid, meta);
    const cgroupUid = cgroupUidOf(meta);
    this.#byCgroup.set(cgroupUid, meta.uid);
    this.#tombstones.delete(cgroupUid);
    // A terminated pod's IP may already belong to a new pod; it no longer identifies this one.
    if (meta.terminated) return;
    for (const ip of meta.podIPs) {
      let uids = this.#byIp.get(ip);
      if (!uids) this.#byIp.set(ip, (uids = new Set()));
      uids.add(meta.uid);
    }
  }

  #unindex(meta: PodMeta): void {
    this.#live.delete(meta.uid);
    const cgroupUid = cgroupUidOf(meta);
    if (this.#byCgroup.get(cgroupUid) === meta.uid) this.#byCgroup.delete(cgroupUid);
    for (const ip of meta.podIPs) {
      const uids = this.#byIp.get(ip);
      uids?.delete(meta.uid);
      if (uids?.size === 0) this.#byIp.delete(ip);
    }
  }

  #pruneTombstones(): void {
    const now = this.#now();
    for (const [key, stone] of this.#tombstones) {
      if (stone.until > now && this.#tombstones.size <= this.#tombstoneMax) break;
      this.#tombstones.delete(key);
    }
  }

  /** A malformed pod must not stop the others from being indexed. */
  #guard(event: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error({ event, err: String(err) }, 'pod event not applied');
    }
  }

  #emit<K extends PodWatchEvent>(event: K, ...args: PodWatchEventMap[K]): void {
    for (const handler of [...this.#handlers[event]] as Handler<K>[]) {
      try {
        const ret: unknown = handler(...args);
        if (ret instanceof Promise) {
          ret.catch((err: unknown) =>
            this.#log.error({ event, err: String(err) }, 'pod event handler failed'),
          );
        }
      } catch (err) {
        this.#log.error({ event, err: String(err) }, 'pod event handler failed');
      }
    }
  }
}
