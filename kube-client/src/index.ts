export {
  KubeApiError,
  isConflict,
  isGone,
  isNotFound,
  parseStatus,
  statusCodeOf,
  toKubeApiError,
} from './errors.ts';
export type { KubeStatus } from './errors.ts';
export { Informer, objectKey } from './informer.ts';
export type {
  BackoffOptions,
  InformerEvent,
  InformerEventMap,
  InformerLogger,
  InformerOptions,
  RestartReason,
} from './informer.ts';
export {
  KubeConfigError,
  SERVICE_ACCOUNT_DIR,
  chooseKubeConfigSource,
} from './kubeconfig-source.ts';
export type { KubeConfigSource, LoadKubeConfigOptions } from './kubeconfig-source.ts';
export { RestClient, KubeTransportError } from './rest-client.ts';
export type { Query, RequestOptions, WatchHandler, WatchOptions } from './rest-client.ts';
export { loadRestConfig, tokenFromFile } from './rest-config.ts';
export type { RestConfig, RestTls } from './rest-config.ts';
