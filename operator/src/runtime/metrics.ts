// prom-client helpers: metrics live on a registry passed in, and several queues or controllers
// may share one registry, so each metric is created once per registry and reused by name.
import type { Metric, Registry } from 'prom-client';

export function registerOnce<M extends Metric>(
  registry: Registry,
  name: string,
  create: () => M,
): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create();
}
