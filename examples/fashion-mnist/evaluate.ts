/**
 * Reports the test accuracy of a trained model file: loads model.safetensors (checked by aicert's
 * strict safetensors parser) and classifies the records of DIR/test.jsonl.
 *
 *   node dist/examples/fashion-mnist/evaluate.js --model OUT/model.safetensors --data DIR [--json]
 */
import { join } from 'node:path';
import { parseOptions, requiredOption, runMain } from './cli.js';
import { readCheckpointFile } from '../../src/trainer/index.js';
import { backendFromEnvironment, useBackend } from './backend.js';
import { Mlp, toInputs } from './mlp.js';
import { readImageSet } from './records.js';

const USAGE = `usage: evaluate --model FILE --data DIR [--json]
  --model FILE  a model.safetensors written by train
  --data DIR    holds test.jsonl (e.g. examples/fashion-mnist/data)
  --json        print {"accuracy", "loss", "records"} as JSON instead of a sentence`;

await runMain('evaluate', async () => {
  const options = parseOptions({
    model: { type: 'string' },
    data: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean' },
  });
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const modelPath = requiredOption(options.model, '--model');
  const test = readImageSet(join(requiredOption(options.data, '--data'), 'test.jsonl'));
  await useBackend(backendFromEnvironment());
  const model = new Mlp(await readCheckpointFile(modelPath), modelPath);
  const { accuracy, loss } = model.evaluate(toInputs(test), test.labels);
  model.dispose();
  process.stdout.write(
    options.json
      ? `${JSON.stringify({ accuracy, loss, records: test.count })}\n`
      : `test accuracy ${(100 * accuracy).toFixed(1)}% (${Math.round(accuracy * test.count)} of ${test.count} images), ` +
          `mean loss ${loss.toFixed(4)}\n`,
  );
});
