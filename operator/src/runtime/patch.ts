// PATCH with an explicit Content-Type. Left alone, client-node 2.0.1 picks
// application/json-patch+json for every PATCH, and the apiserver rejects an object body with
// "cannot unmarshal object into Go value of type []handlers.jsonPatchOp".
import {
  PatchStrategy,
  setHeaderOptions,
  type ConfigurationOptions,
} from '@kubernetes/client-node';

/**
 * Call options for a JSON merge patch (RFC 7386). Lists are replaced wholesale, so send complete
 * lists (e.g. all conditions). setHeaderOptions appends to the API's own middleware (auth,
 * server URL) rather than replacing it, and keeps any middleware already in `options`.
 */
export function mergePatchOptions(options?: ConfigurationOptions): ConfigurationOptions {
  return setHeaderOptions('Content-Type', PatchStrategy.MergePatch, options);
}
