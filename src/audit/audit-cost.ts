import type { AuditCost } from './audit-report.js';

/**
 * The audit's cost in training steps. Replays re-execute whole steps (forward, backward, update
 * over a batch). A loss evaluation is one forward pass of one record; a training step costs about
 * three forward passes of a batch (the backward pass about twice the forward), so
 * lossEvaluations / (3 × batch size) is their cost in steps. The fractions divide by the run's T.
 */
export function auditCost(
  totalSteps: number,
  batchSize: number,
  replayedSteps: number,
  lossEvaluations: number,
): AuditCost {
  const lossStepEquivalents = lossEvaluations / (3 * batchSize);
  return {
    totalSteps,
    replayedSteps,
    lossEvaluations,
    lossStepEquivalents,
    replayFraction: replayedSteps / totalSteps,
    totalFraction: (replayedSteps + lossStepEquivalents) / totalSteps,
  };
}
