// Runs each project's files in vitest's usual order, except that the cluster project's teardown
// suite comes last: it stops the node every other cluster suite uses.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const isLast = (spec: TestSpecification): boolean =>
  spec.moduleId.endsWith('/test/cluster/teardown.test.ts');

export class ClusterTeardownLastSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    return [...sorted.filter((f) => !isLast(f)), ...sorted.filter(isLast)];
  }
}
