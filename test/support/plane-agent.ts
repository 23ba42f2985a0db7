// The node agent as the control-plane suites run it: against the suite's control plane, its
// test client holding the admin's token, started and ready to serve.
import { AgentProcess, type AgentOptions } from './agent-process.ts';
import { controlPlane } from './kube.ts';

/** Starts the agent against the control plane and waits until it is ready. */
export async function startPlaneAgent(
  options: Omit<AgentOptions, 'kubeconfig' | 'token'>,
): Promise<AgentProcess> {
  const plane = controlPlane();
  const agent = await AgentProcess.start({
    ...options,
    kubeconfig: plane.kubeconfig,
    token: plane.admin.token,
  });
  await agent.waitReady();
  return agent;
}
