// The operator's acknowledgement of what every policy has durably counted, so the agent may
// compact its ledger (LedgerStore.acknowledge), and the positions the operator needs to start a
// new cursor: the anchor (oldest verifiable point) and the head.
import { Router, json } from 'express';
import { parseSeq } from '@agentmeter/crds';
import { requireAccess, type Authorize } from '@agentmeter/kube-client/access';

export interface AckStore {
  acknowledge(seq: bigint): Promise<unknown>;
  anchor(): { seq: bigint; hash: string };
  head(): { seq: bigint; hash: string };
  stats(): { acked: bigint };
}

export interface AckRouterOptions {
  readonly store: AckStore;
  /** The operator's check (auth.ts); none lets every caller on. */
  readonly authorize?: Authorize;
}

function state(store: AckStore): object {
  const anchor = store.anchor();
  const head = store.head();
  return {
    acked: store.stats().acked.toString(),
    anchor: { seq: anchor.seq.toString(), hash: anchor.hash },
    head: { seq: head.seq.toString(), hash: head.hash },
  };
}

/** GET and POST /v1/ledger/ack; POST takes {"seq": "<decimal>"}. */
export function createAckRouter(options: AckRouterOptions): Router {
  const { store, authorize } = options;
  const router = Router();
  const gate = requireAccess(authorize);
  router.get('/v1/ledger/ack', gate, (_req, res) => {
    res.status(200).json(state(store));
  });
  router.post('/v1/ledger/ack', gate, json({ limit: '1kb' }), async (req, res) => {
    const seq = parseSeq((req.body as { seq?: unknown } | undefined)?.seq);
    if (seq === undefined) {
      res.status(400).json({ error: 'body must be {"seq": "<decimal sequence number>"}' });
      return;
    }
    if (seq > store.head().seq) {
      res.status(409).json({ error: `seq ${seq} is beyond the head ${store.head().seq}` });
      return;
    }
    await store.acknowledge(seq);
    res.status(200).json(state(store));
  });
  return router;
}
