import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { EnvironmentError, InputError } from '../../src/errors.js';

/**
 * The TensorFlow.js backend the example computes on, chosen by AICERT_TFJS_BACKEND:
 * - `cpu` (default): pure JavaScript kernels in a fixed order, bit-for-bit repeatable;
 * - `wasm`: XNNPACK compiled to WebAssembly (single-threaded SIMD in Node), also repeatable
 *   run to run, but its float results differ slightly from `cpu`'s. An auditor replays on it to
 *   check a `cpu` run with a calibrated tolerance.
 */
export type BackendName = 'cpu' | 'wasm';

export function backendFromEnvironment(env: NodeJS.ProcessEnv = process.env): BackendName {
  const name = env.AICERT_TFJS_BACKEND ?? 'cpu';
  if (name !== 'cpu' && name !== 'wasm')
    throw new InputError('example.backend', `AICERT_TFJS_BACKEND must be cpu or wasm, got ${JSON.stringify(name)}`);
  return name;
}

/** Selects the backend and silences TensorFlow.js's advice to install tfjs-node. */
export async function useBackend(name: BackendName): Promise<void> {
  tf.enableProdMode();
  if (name === 'wasm') {
    // Imported only when asked for (it registers the backend and is large). The .wasm binaries
    // ship inside the npm package; load them from there, never over a network.
    const { setWasmPaths } = await import('@tensorflow/tfjs-backend-wasm');
    const binary = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm');
    setWasmPaths(`${dirname(binary)}/`);
  }
  if (!(await tf.setBackend(name)))
    throw new EnvironmentError('example.backend', `TensorFlow.js could not start its ${name} backend`);
}

/** What meta.json records as the framework, e.g. "tfjs-4.22.0/cpu". */
export function frameworkName(): string {
  return `tfjs-${tf.version.tfjs}/${tf.getBackend()}`;
}
