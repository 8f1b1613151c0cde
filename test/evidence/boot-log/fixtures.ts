import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The real boot event logs of test/fixtures/eventlogs/ (see its README for their sources). */
export const EVENTLOG_DIR = fileURLToPath(new URL('../../../../test/fixtures/eventlogs/', import.meta.url));

export const EVENTLOG_FIXTURES: readonly string[] = readdirSync(EVENTLOG_DIR)
  .filter((name) => name !== 'README.md')
  .sort();

export function readEventLogFixture(name: string): Buffer {
  return readFileSync(EVENTLOG_DIR + name);
}
