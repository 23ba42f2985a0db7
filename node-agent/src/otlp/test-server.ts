// Starts the receiver on 127.0.0.1:0 for tests and the bench.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createOtlpHandler } from './receiver.ts';
import type { ReceiverOptions } from './receiver.ts';

export interface TestReceiver {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

export async function startTestReceiver(options: ReceiverOptions): Promise<TestReceiver> {
  const server = createServer(createOtlpHandler(options));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    server,
    close: () =>
      new Promise((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
