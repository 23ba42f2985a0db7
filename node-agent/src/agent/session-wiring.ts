// Sessions, from their two sources to what the tick batcher drains: OTLP spans (checked against
// the pod that sent them) become activity and calls (each counted once), and a pod's session annotation
// gives the whole pod to one session from the moment it is seen (from its birth when the pod was
// created with it), never before.
import express, { type Express } from 'express';
import type { SpanTag, Usage } from '@agentmeter/crds';
import { CallCollector, CallDedupe } from '../calls/index.ts';
import type { AgentConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { RefusalMetrics } from '../metrics/refusal-metrics.ts';
import { otlpRouter } from '../otlp/receiver.ts';
import type { PodMeta } from '../pods/pod-meta.ts';
import type { PodWatch } from '../pods/pod-watch.ts';
import {
  SessionIngest,
  Settlement,
  sessionFromAnnotations,
  sessionKeyString,
  trustedSources,
  type PodDirectory,
  type PodIdentity,
} from '../sessions/index.ts';

export interface Sessions {
  /** Splits each pod's ticks across its sessions once the watermark has passed. */
  readonly settlement: Settlement<Usage>;
  /** Calls claimed since the last tick, for the tick batcher. */
  readonly calls: CallCollector;
  /** What was counted in the dedupe window; rebuilt from the ledger at start. */
  readonly dedupe: CallDedupe;
  /** The span sink behind the OTLP receiver. */
  readonly ingest: SessionIngest<Usage>;
  /** The OTLP/HTTP receiver's app (`/v1/traces`); more routes may be added to it. */
  readonly otlpApp: Express;
  /** Live pods of this node by address and uid, as identity checks see them. */
  readonly directory: PodDirectory;
}

function identity(meta: PodMeta): PodIdentity {
  return {
    uid: meta.uid,
    namespace: meta.namespace,
    name: meta.name,
    podIPs: meta.podIPs,
    hostNetwork: meta.hostNetwork,
    annotations: meta.annotations,
  };
}

export function wireSessions(options: {
  readonly config: AgentConfig;
  readonly pods: PodWatch;
  /** Wall clock in unix ns. */
  readonly clock: () => bigint;
  readonly log: Logger;
  readonly refusals: RefusalMetrics;
  /** The host pattern the pod's policy prices `host` by, or null. */
  readonly apiHostFor: (meta: PodMeta, host: string) => string | null;
  /** The span-attribute allocation tags of the pod's policy; none when left out. */
  readonly spanTagsFor?: (meta: PodMeta) => readonly SpanTag[];
  /** Called once each OTLP request has been answered. */
  readonly afterRequest?: () => void;
}): Sessions {
  const { config, pods, clock, log, refusals, apiHostFor, spanTagsFor, afterRequest } = options;
  // The batcher holds ticks for the watermark itself; the settlement splits when it is asked.
  const settlement = new Settlement<Usage>({ watermarkTicks: 0 });
  const calls = new CallCollector();
  const dedupe = new CallDedupe({ windowNs: BigInt(config.callDedupeWindowMs) * 1_000_000n });
  const directory: PodDirectory = {
    podsByIp: (ip) => pods.byIp(ip).map(identity),
    podByUid: (uid) => {
      const meta = pods.byUid(uid);
      return meta === undefined || meta.terminated ? undefined : identity(meta);
    },
  };
  const ingest = new SessionIngest<Usage>({
    pods: directory,
    settlement,
    calls,
    dedupe,
    apiHosts: (uid) => {
      const meta = pods.byUid(uid);
      return (host) => (meta === undefined ? null : apiHostFor(meta, host));
    },
    spanTags: (uid) => {
      const meta = pods.byUid(uid);
      return meta === undefined || spanTagsFor === undefined ? [] : spanTagsFor(meta);
    },
    clock,
    trustedSource: trustedSources(config.trustedProxies),
  });

  const observe = (meta: PodMeta): void => {
    const session = sessionFromAnnotations(meta.annotations);
    const key =
      session.kind === 'session'
        ? sessionKeyString({ namespace: meta.namespace, id: session.id })
        : null;
    settlement.observeAnnotation(meta.uid, clock(), key);
  };
  pods.on('added', observe);
  pods.on('updated', observe);

  const otlpApp = express();
  otlpApp.disable('x-powered-by');
  otlpApp.use(refusals.countResponses('otlp'));
  if (afterRequest !== undefined) {
    otlpApp.use((_req, res, next) => {
      res.once('finish', afterRequest);
      next();
    });
  }
  otlpApp.use(
    otlpRouter({
      sink: ingest,
      maxBodyBytes: config.otlpMaxBodyBytes,
      clock,
      onError: (err) => log.error({ err }, 'otlp receiver failed'),
      onRefused: (reason) => refusals.otlpRequestRefused(reason),
      onDecodeRejected: (rejected) => refusals.otlpSpansRejected(rejected),
    }),
  );
  return { settlement, calls, dedupe, ingest, otlpApp, directory };
}
