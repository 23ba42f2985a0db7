import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeApiServer, type SeenRequest } from './fake-apiserver.ts';
import { mergePatchOptions } from './patch.ts';

const PATH = '/api/v1/namespaces/ns/configmaps/cm';
const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' } };
let server: FakeApiServer;
let api: CoreV1Api;

beforeAll(async () => {
  server = await FakeApiServer.start();
  api = server.kubeConfig('secret-token').makeApiClient(CoreV1Api);
});

afterAll(() => server.close());

/** Sends one PATCH through `send` and returns the request as the server saw it. */
async function patchSeen(send: () => Promise<unknown>): Promise<SeenRequest | undefined> {
  let seen: SeenRequest | undefined;
  server.expect({
    method: 'PATCH',
    path: PATH,
    check: (req) => (seen = req),
    reply: { body: configMap },
  });
  await send();
  server.verify();
  return seen;
}

describe('mergePatchOptions', () => {
  it('sends the patch as application/merge-patch+json and keeps authentication', async () => {
    const seen = await patchSeen(() =>
      api.patchNamespacedConfigMap(
        { name: 'cm', namespace: 'ns', body: { data: { a: '1' } } },
        mergePatchOptions(),
      ),
    );
    expect(seen?.headers['content-type']).toBe('application/merge-patch+json');
    expect(seen?.headers.authorization).toBe('Bearer secret-token');
    expect(seen?.body).toEqual({ data: { a: '1' } });
  });

  it('is needed: without it the client sends a JSON patch', async () => {
    const seen = await patchSeen(() =>
      api.patchNamespacedConfigMap({ name: 'cm', namespace: 'ns', body: { data: {} } }),
    );
    expect(seen?.headers['content-type']).toBe('application/json-patch+json');
  });
});
