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
export { KubeConfigError, SERVICE_ACCOUNT_DIR, loadKubeConfig } from './kubeconfig.ts';
export type { LoadKubeConfigOptions } from './kubeconfig.ts';
