// Runs each project's files in vitest's usual order, except that three cluster suites come last:
// the demo (on a node the other suites have used and restarted parts of), the whole-node restart
// (every other suite has the node as it first started), then the teardown suite, which stops the
// node every other cluster suite uses.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const LAST = [
  '/test/cluster/demo.test.ts',
  '/test/cluster/node-restart.test.ts',
  '/test/cluster/teardown.test.ts',
];

const rank = (spec: TestSpecification): number =>
  LAST.findIndex((suffix) => spec.moduleId.endsWith(suffix));

export class ClusterTeardownLastSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const last = LAST.flatMap((_, i) => sorted.filter((f) => rank(f) === i));
    return [...sorted.filter((f) => rank(f) < 0), ...last];
  }
}
