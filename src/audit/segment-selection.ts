import { SeedStream } from '../trainer/seed-stream.js';

export interface SelectedSegment {
  index: number;
  chosenBy: 'top-q' | 'random';
}

/**
 * The segments the audit replays: the top-Q by update norm (largest first, ties to the earlier
 * segment), then m drawn uniformly without replacement from the rest with the verifier's audit
 * seed. The seed is the verifier's, drawn after the run: a prover who knew which segments would
 * be checked could fake all the others, so it must never be derived from anything the prover
 * chose or saw (not from s, not from the transcript).
 */
export function selectSegments(
  updateNorms: readonly number[],
  topQ: number,
  random: number,
  auditSeed: Buffer,
): SelectedSegment[] {
  const byNorm = updateNorms
    .map((norm, index) => ({ norm, index }))
    .sort((a, b) => b.norm - a.norm || a.index - b.index);
  const top = byNorm.slice(0, topQ).map((s) => s.index);
  const chosen = new Set(top);
  const rest = updateNorms.map((_, index) => index).filter((index) => !chosen.has(index));
  const drawn = new SeedStream(auditSeed, 'aicert/audit/segments')
    .permutation(rest.length)
    .slice(0, random)
    .map((j) => rest[j]!);
  return [
    ...top.map((index) => ({ index, chosenBy: 'top-q' as const })),
    ...drawn.map((index) => ({ index, chosenBy: 'random' as const })),
  ];
}
