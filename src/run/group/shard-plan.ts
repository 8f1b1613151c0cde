import { UsageError } from '../../errors.js';
import { shardPlanFileSchema } from '../../protocol/group-commitment.js';
import { readBoundedFile } from '../../util/bounded-file.js';
import { describeSchemaError } from '../../util/schema-error.js';
import { parseJsonObject } from '../../util/strict-json.js';

/** A shard plan of 1024 ranks × 1024 roots is about 68 MB; plans are far smaller in practice. */
const MAX_PLAN_BYTES = 8 * 1024 * 1024;

/**
 * Reads rank 0's shard plan (`aicert run --shard-plan FILE`, docs/distributed.md): one list of
 * dataset manifest roots per rank, as `aicert measure` prints them, one entry for each of the
 * group's `nodes` ranks.
 */
export async function loadShardPlan(path: string, nodes: number): Promise<string[][]> {
  const bytes = await readBoundedFile(path, MAX_PLAN_BYTES, 'shard plan', 'usage.shard-plan');
  const bad = (why: string) => new UsageError('usage.shard-plan', `the shard plan ${path}: ${why}`);
  const parsed = shardPlanFileSchema.safeParse(parseJsonObject(bytes, (_, detail) => bad(detail)));
  if (!parsed.success) throw bad(describeSchemaError(parsed.error));
  if (parsed.data.shards.length !== nodes)
    throw bad(`it assigns shards to ${parsed.data.shards.length} ranks; the group has ${nodes} nodes`);
  return parsed.data.shards;
}
