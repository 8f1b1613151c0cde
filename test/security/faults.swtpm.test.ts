import { after, before, describe, test } from 'node:test';
import { FAULTS, makeFaultBench, SkipFault, type FaultBench } from './faults.js';

/**
 * Fault injection into real runs on swtpm (faults.ts): each fault's test passes when what must
 * hold after it holds. The full set (more trials of concurrent runs) runs in `npm run test:security`.
 */
describe('fault injection', () => {
  let bench: FaultBench;
  before(async () => {
    bench = await makeFaultBench({ trials: 2 });
  });
  after(async () => bench?.stop());

  for (const fault of FAULTS) {
    test(fault.name, async (t) => {
      try {
        const note = await fault.inject(bench);
        if (note) t.diagnostic(note);
      } catch (err) {
        if (err instanceof SkipFault) return t.skip(err.message);
        throw err;
      }
    });
  }
});
