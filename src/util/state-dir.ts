import { homedir } from 'node:os';
import { join } from 'node:path';

/** aicert's state directory: $AICERT_HOME, else $XDG_STATE_HOME/aicert, else ~/.local/state/aicert. */
export function aicertHome(): string {
  if (process.env.AICERT_HOME) return process.env.AICERT_HOME;
  return join(process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'aicert');
}
