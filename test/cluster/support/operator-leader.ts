// The operator's leader pod deleted at once (no graceful release of its Lease), and the Lease as
// the successor takes it: who held it, who holds it now, and how long after the old leader's
// last renewal the successor acquired it.
import { waitFor } from '../../support/wait.ts';
import { chartRelease, kubectlJson, kubectlOk } from './cluster.ts';
import { listPods } from './pods.ts';

interface Lease {
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
  };
}

/** The chart's operator.leaderElection.retryPeriod, in µs. */
export const RETRY_PERIOD_US = 2_000_000n;

/** RFC 3339 MicroTime as µs since the epoch, exactly. */
function micros(time: string | undefined): bigint {
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?Z$/.exec(time ?? '');
  if (!match) throw new Error(`not a MicroTime: ${time}`);
  const [, whole = '', fraction = ''] = match;
  return BigInt(Date.parse(`${whole}Z`)) * 1000n + BigInt(fraction.padEnd(6, '0'));
}

export interface Failover {
  readonly from: string;
  readonly to: string;
  /** The successor's acquireTime minus the old leader's last renewal seen, µs. */
  readonly takeoverUs: bigint;
  readonly leaseDurationUs: bigint;
}

/** Deletes the leader pod with no grace period and waits for another pod to hold the Lease. */
export async function deleteOperatorLeader(): Promise<Failover> {
  const { namespace, release } = chartRelease();
  const lease = `${release}-operator`;
  const before = await kubectlJson<Lease>(['get', 'lease', lease, '-n', namespace]);
  const from = before.spec.holderIdentity ?? '';
  const replicas = await listPods(namespace, 'app.kubernetes.io/component=operator');
  if (!replicas.some((p) => p.metadata.name === from)) {
    throw new Error(`the Lease holder ${from} is not an operator pod`);
  }
  // The pod and its process are gone at once, without releasing the lease.
  await kubectlOk(['delete', 'pod', from, '-n', namespace, '--grace-period=0', '--force']);
  let after: Lease = before;
  await waitFor(
    'another replica to hold the lease',
    async () => {
      after = await kubectlJson<Lease>(['get', 'lease', lease, '-n', namespace]);
      const holder = after.spec.holderIdentity ?? '';
      return holder !== '' && holder !== from;
    },
    120_000,
  );
  const leaseDurationUs = BigInt(before.spec.leaseDurationSeconds ?? 0) * 1_000_000n;
  // Its last renewal as the successor found it: the lease read before the deletion, or a
  // later renewal the successor took over from.
  const takeoverUs = micros(after.spec.acquireTime) - micros(before.spec.renewTime);
  const to = after.spec.holderIdentity ?? '';
  process.stdout.write(
    `operator failover: ${from} -> ${to}; acquired ${takeoverUs} µs after the old leader's last renewal seen (lease ${leaseDurationUs} µs)\n`,
  );
  return { from, to, takeoverUs, leaseDurationUs };
}
