import { arch, cpus, platform, release, totalmem } from 'node:os';
import type { Tpm } from '../tpm/client.js';
import { readTpmIdentity } from '../evidence/tpm-identity.js';
import type { EnvironmentEvent } from './run-events.js';

/**
 * The platform, as far as it is useful to a reader and carries no secrets (no environment
 * variables, no host name): recorded by a certified run and by a serving session alike.
 */
export async function environmentEvent(tpm: Tpm): Promise<EnvironmentEvent> {
  const id = await readTpmIdentity(tpm);
  return {
    type: 'environment',
    os: { platform: platform(), release: release(), arch: arch() },
    node: process.version,
    cpu: { model: cpus()[0]?.model ?? 'unknown', count: cpus().length },
    memoryBytes: totalmem(),
    tpm: { manufacturer: id.manufacturer, vendor: id.vendor, firmware: id.firmwareVersion },
  };
}
