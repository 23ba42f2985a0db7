// Vitest global setup for the integration project: one real etcd + kube-apiserver per run.
// A failure to build or start them fails the run with the reason; it never skips suites.
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

export async function setup(project: TestProject): Promise<void> {
  plane = await startControlPlane();
  const { stopServers, startServers, stop, ...info } = plane;
  project.provide('controlPlane', info);
}

export async function teardown(): Promise<void> {
  await plane?.stop();
}
