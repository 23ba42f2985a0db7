// The node's small PKI, made with openssl: a CA the kubelet trusts for client certificates, and
// the certificate the apiserver presents to the kubelet (exec, logs, port-forward, node proxy).
// Everything else authenticates with static tokens or ServiceAccount tokens.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runChecked } from '../lib/processes.ts';
import { paths } from './config.ts';

export interface NodePki {
  readonly caCert: string;
  readonly kubeletClientCert: string;
  readonly kubeletClientKey: string;
}

/** A new P-256 key, unencrypted, written to `key`; the request or certificate to `out`. */
const ecKey = (key: string, out: string): string[] => [
  ...['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
  ...['-keyout', key, '-out', out],
];

export async function makeNodePki(dir: string): Promise<NodePki> {
  const p = paths(dir);
  const days = '30';
  await runChecked('openssl', [
    'req',
    '-x509',
    ...ecKey(p.nodeCaKey, p.nodeCaCert),
    '-days',
    days,
    '-subj',
    '/CN=agentmeter-node-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const csr = join(dir, 'pki', 'apiserver-kubelet-client.csr');
  await runChecked('openssl', [
    'req',
    '-new',
    ...ecKey(p.kubeletClientKey, csr),
    // system:masters: the kubelet's webhook authorizer asks the apiserver, which grants it all.
    '-subj',
    '/O=system:masters/CN=kube-apiserver-kubelet-client',
  ]);
  const ext = join(dir, 'pki', 'client.ext');
  await writeFile(ext, 'keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  await runChecked('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    p.nodeCaCert,
    '-CAkey',
    p.nodeCaKey,
    '-CAcreateserial',
    '-out',
    p.kubeletClientCert,
    '-days',
    days,
    '-extfile',
    ext,
  ]);
  return {
    caCert: p.nodeCaCert,
    kubeletClientCert: p.kubeletClientCert,
    kubeletClientKey: p.kubeletClientKey,
  };
}
