import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FIELD_MANAGER,
  mergePatchOptions,
  serverSideApplyOptions,
  serverSideApplyParams,
} from './patch.ts';

// A loopback server standing in for the apiserver, to see exactly what the client sends.
const seen: { headers: IncomingHttpHeaders; url: string; body: string }[] = [];
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk.toString()));
  req.on('end', () => {
    seen.push({ headers: req.headers, url: req.url ?? '', body });
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' } }));
  });
});
let api: CoreV1Api;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'secret-token' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  api = kc.makeApiClient(CoreV1Api);
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('patch helpers', () => {
  it('send merge patches as application/merge-patch+json and keep authentication', async () => {
    seen.length = 0;
    await api.patchNamespacedConfigMap(
      { name: 'cm', namespace: 'ns', body: { data: { a: '1' } } },
      mergePatchOptions(),
    );
    expect(seen[0]?.headers['content-type']).toBe('application/merge-patch+json');
    expect(seen[0]?.headers.authorization).toBe('Bearer secret-token');
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ data: { a: '1' } });
  });

  it('send server-side apply with the field manager and force', async () => {
    seen.length = 0;
    await api.patchNamespacedConfigMap(
      {
        name: 'cm',
        namespace: 'ns',
        body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'ns' } },
        ...serverSideApplyParams(),
      },
      serverSideApplyOptions(),
    );
    expect(seen[0]?.headers['content-type']).toBe('application/apply-patch+yaml');
    const query = new URL(seen[0]?.url ?? '', 'http://x').searchParams;
    expect(query.get('fieldManager')).toBe(FIELD_MANAGER);
    expect(query.get('force')).toBe('true');
  });

  it('without them, the client would send a JSON patch', async () => {
    seen.length = 0;
    await api.patchNamespacedConfigMap({ name: 'cm', namespace: 'ns', body: { data: {} } });
    expect(seen[0]?.headers['content-type']).toBe('application/json-patch+json');
  });
});
