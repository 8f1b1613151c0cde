import type { SecurityFixtures } from './swtpm-fixtures.js';
import { generateTamperCorpus, type Mutant } from './tamper-corpus.js';
import { artifactMutants, forgedMutants } from './tamper-forged.js';
import { nvMutants } from './tamper-nv.js';
import { bootLogMutants } from './tamper-bootlog.js';

/** Every family of the tamper corpus, from the genuine certificates: what its test and `npm run test:security` run. */
export async function allTamperMutants(fx: SecurityFixtures): Promise<Mutant[]> {
  return [
    ...generateTamperCorpus({
      good: fx.good.bytes,
      other: fx.other.bytes,
      trainer: fx.trainer.bytes,
      foreign: fx.foreign.bytes,
      chains: fx.chains,
    }),
    ...(await forgedMutants(fx)),
    ...(await artifactMutants(fx)),
    ...nvMutants(fx),
    ...(await bootLogMutants(fx)),
  ];
}
