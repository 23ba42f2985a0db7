// PATCH with an explicit Content-Type. Left alone, client-node 2.0.1 picks
// application/json-patch+json for every PATCH, and the apiserver rejects an object body with
// "cannot unmarshal object into Go value of type []handlers.jsonPatchOp".
import {
  PatchStrategy,
  setHeaderOptions,
  type ConfigurationOptions,
} from '@kubernetes/client-node';

/** The field manager the operator owns its fields under in server-side apply. */
export const FIELD_MANAGER = 'agentmeter-operator';

/**
 * Call options for a JSON merge patch (RFC 7386). Lists are replaced wholesale, so send complete
 * lists (e.g. all conditions). setHeaderOptions appends to the API's own middleware (auth,
 * server URL) rather than replacing it, and keeps any middleware already in `options`.
 */
export function mergePatchOptions(options?: ConfigurationOptions): ConfigurationOptions {
  return setHeaderOptions('Content-Type', PatchStrategy.MergePatch, options);
}

/** Call options for server-side apply; pair them with serverSideApplyParams(). */
export function serverSideApplyOptions(options?: ConfigurationOptions): ConfigurationOptions {
  return setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply, options);
}

/**
 * Query parameters for server-side apply: the operator's field manager, forcing ownership of the
 * fields it sends (a controller is the authority on them). The body must carry apiVersion, kind
 * and metadata.name (and namespace); JSON is valid YAML.
 */
export function serverSideApplyParams(fieldManager: string = FIELD_MANAGER): {
  fieldManager: string;
  force: true;
} {
  return { fieldManager, force: true };
}
