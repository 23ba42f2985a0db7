// The committed manifests are generated; this fails when a schema changed without
// `node hack/generate-crds.ts` being run (or a manifest was edited by hand).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, parseDocument, visit } from 'yaml';
import { describe, expect, it } from 'vitest';
import { costPolicyCrd } from '../costpolicy/crd.ts';
import { costReportCrd } from '../costreport/crd.ts';
import { customResourceDefinition, manifestFileName, renderManifest } from './crd.ts';

const manifestsDir = fileURLToPath(new URL('../../manifests/', import.meta.url));

describe.each([costPolicyCrd, costReportCrd])('crds/manifests for $kind', (crd) => {
  const file = manifestFileName(crd);
  const committed = readFileSync(manifestsDir + file, 'utf8');

  it(`${file} equals a fresh generation`, () => {
    expect(committed).toBe(renderManifest(crd));
  });

  it('has no anchors or aliases', () => {
    let aliases = 0;
    visit(parseDocument(committed), { Alias: () => void aliases++ });
    expect(aliases).toBe(0);
  });

  it('round-trips through YAML to the same CRD object', () => {
    expect(parse(committed)).toEqual(JSON.parse(JSON.stringify(customResourceDefinition(crd))));
  });
});
