// Access to the real node from the cluster suites: its description, and kubectl and helm run the
// way a user runs them, against its admin kubeconfig.
import { inject } from 'vitest';
import type { RealNodeInfo } from '../../../hack/real-node.ts';
import type { ChartRelease } from '../../../hack/real-node/chart.ts';
import { run, type CommandResult } from '../../../hack/lib/processes.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    realNode: RealNodeInfo;
    chart: ChartRelease;
  }
}

export function realNode(): RealNodeInfo {
  return inject('realNode');
}

export function chartRelease(): ChartRelease {
  return inject('chart');
}

interface RunOptions {
  readonly input?: string;
  readonly timeoutMs?: number;
}

export function kubectl(args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const node = realNode();
  return run(node.binaries.kubectl, ['--kubeconfig', node.kubeconfig, ...args], options);
}

/** kubectl whose failure is an error quoting the command and its stderr. */
export async function kubectlOk(
  args: readonly string[],
  options: RunOptions = {},
): Promise<string> {
  const res = await kubectl(args, options);
  if (res.code !== 0) {
    throw new Error(`kubectl ${args.join(' ')} exited with ${res.code}: ${res.stderr.trim()}`);
  }
  return res.stdout;
}

export async function kubectlJson<T>(args: readonly string[]): Promise<T> {
  return JSON.parse(await kubectlOk([...args, '-o', 'json'])) as T;
}

/** Applies manifests given as objects (one YAML stream). */
export async function apply(objects: readonly object[]): Promise<void> {
  await kubectlOk(['apply', '-f', '-'], {
    input: objects.map((o) => JSON.stringify(o)).join('\n'),
  });
}

export function helm(args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const node = realNode();
  return run(chartRelease().helm, ['--kubeconfig', node.kubeconfig, ...args], options);
}

/** The chart's node-local OTLP Service (internalTrafficPolicy Local) by its cluster DNS name. */
export async function otlpServiceEndpoint(): Promise<string> {
  const chart = chartRelease();
  const services = await kubectlJson<{
    items: { metadata: { name: string }; spec: { internalTrafficPolicy?: string } }[];
  }>(['get', 'services', '-n', chart.namespace]);
  const otlp = services.items.find((s) => s.spec.internalTrafficPolicy === 'Local');
  if (!otlp) throw new Error('the chart made no node-local OTLP Service');
  return `http://${otlp.metadata.name}.${chart.namespace}.svc.${realNode().clusterDomain}:4318`;
}
