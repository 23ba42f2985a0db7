// Vitest global setup for the integration project: one real etcd + kube-apiserver per run.
// A failure to build or start them fails the run with the reason; it never skips suites.
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import {
  startControlPlane,
  type ControlPlane,
  type ControlPlaneInfo,
} from '../../hack/control-plane.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    controlPlane: ControlPlaneInfo;
  }
}

let plane: ControlPlane | undefined;

async function applyCrdManifests(kubectl: string, kubeconfig: string): Promise<void> {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '../../crds/manifests');
  const run = (args: string[]): Promise<void> =>
    new Promise((done, fail) =>
      execFile(kubectl, ['--kubeconfig', kubeconfig, ...args], (err, _out, stderr) =>
        err ? fail(new Error(`kubectl ${args.join(' ')}: ${stderr}`)) : done(),
      ),
    );
  await run(['apply', '--server-side', '--force-conflicts', '-f', dir]);
  await run(['wait', '--for=condition=Established', '--timeout=60s', '-f', dir]);
}

export async function setup(project: TestProject): Promise<void> {
  plane = await startControlPlane();
  const { stopServers, startServers, running, stop, ...info } = plane;
  // Every suite works against an apiserver that serves agentmeter's API, as a cluster with the
  // chart installed does.
  await applyCrdManifests(info.binaries.kubectl, info.kubeconfig);
  project.provide('controlPlane', info);
}

export async function teardown(): Promise<void> {
  await plane?.stop();
}
