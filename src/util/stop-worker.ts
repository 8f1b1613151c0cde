import type { Worker } from 'node:worker_threads';

/**
 * Terminates a worker thread and waits for it to exit. Our pools unref idle workers so that they do
 * not keep the process alive; an unref'd worker's exit does not keep it alive either, so awaiting
 * its terminate() can leave a promise that never settles once nothing else is pending (the test
 * runner reports "Promise resolution is still pending but the event loop has already resolved").
 * Ref'd first, the worker holds the process until it has exited.
 */
export async function stopWorker(worker: Worker): Promise<void> {
  worker.ref();
  await worker.terminate();
}
