import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { EnvironmentError, UsageError } from '../errors.js';
import type { CommandIsolation } from '../protocol/run-events.js';
import { parseTpmAddress } from '../tpm/address.js';
import { isInside } from '../util/path-inside.js';
import { LOCK_DIRECTORY } from './tpm-lock.js';

/**
 * Confinement of the training command (docs/security.md, "The training command"). The command
 * is the model builder's program and may be hostile: with the TPM in reach it could reset the
 * measurement register, extend an invented log and have the AK quote it. So it runs in new mount
 * and network namespaces where:
 * - the TPM devices (/dev/tpm*) and a software TPM's sockets are covered by /dev/null, and the
 *   directory of a Unix-socket swtpm (its state, with the TPM's secrets, lives there) and aicert's
 *   state directory by an empty, unreadable tmpfs;
 * - there is no network, so a TCP swtpm (or any TPM proxy) cannot be reached; with `--network
 *   host` (a distributed trainer must reach its peers) the command keeps the host's network, the
 *   certificate says so, and a TPM addressed over TCP is refused;
 * - every capability is dropped and no-new-privileges is set before the command starts, so it
 *   can neither undo those mounts, create a device node, nor regain privileges through setuid
 *   programs, and cannot ptrace aicert (whose capabilities it lacks).
 * As root the namespaces are created directly; otherwise inside a user namespace (the command
 * then sees itself as uid 0 there, without capabilities outside it). Both use util-linux's
 * `unshare` and `setpriv` (Debian's essential util-linux package).
 */
export type IsolationMode = 'namespaces' | 'none';

/**
 * The command's network under `namespaces`: `none` (a network namespace of its own, no
 * interface) or `host` (the host's network, for a distributed trainer that must reach its peers:
 * `--network host`, recorded in the certificate).
 */
export type NetworkMode = 'none' | 'host';

export interface IsolationPlan {
  /** What the certificate records. */
  record: CommandIsolation;
  /** Wraps the command's argv. */
  wrap(argv: readonly string[]): string[];
}

export interface IsolationOptions {
  mode: IsolationMode;
  /** Under `namespaces`: the command's network; default `none`. */
  network?: NetworkMode;
  tpm: string;
  /** aicert's state directory, hidden from the command. */
  stateDirectory: string;
  /** Paths the command must reach (code, data, outputs): none may lie under a hidden path. */
  needed: readonly string[];
}

/** `sh -c` script run in the new namespaces: hide, then drop every privilege and exec the command. */
const SETUP = [
  'set -e',
  'mount --make-rprivate /',
  'while [ "$1" != -- ]; do',
  '  if [ -d "$1" ]; then mount -t tmpfs -o size=4k,mode=000 aicert-hidden "$1"; else mount --bind /dev/null "$1"; fi',
  '  shift',
  'done',
  'shift',
  'exec setpriv --no-new-privs --inh-caps=-all --ambient-caps=-all --bounding-set=-all -- "$@"',
].join('\n');

export function planIsolation(o: IsolationOptions): IsolationPlan {
  if (o.mode === 'none') {
    return { record: { mode: 'none' }, wrap: (argv) => [...argv] };
  }
  const network = o.network ?? 'none';
  const hidden = hiddenPaths(o.tpm, o.stateDirectory);
  if (network === 'host') refuseNetworkTpm(o.tpm);
  for (const path of o.needed) {
    const inside = hidden.find((h) => isInside(h.path, realpathOrSelf(path)));
    if (inside) {
      throw new UsageError(
        'usage.isolation',
        `${path} lies inside ${inside.path} (${inside.what}), which is hidden from the training command; move it elsewhere`,
      );
    }
  }
  const asRoot = process.getuid?.() === 0;
  const namespaces = [
    ...(asRoot ? [] : ['user' as const]),
    'mount' as const,
    ...(network === 'none' ? ['network' as const] : []),
  ];
  const unshare = [
    'unshare',
    ...(asRoot ? [] : ['--user', '--map-root-user']),
    '--mount',
    ...(network === 'none' ? ['--net'] : []),
    '--',
  ];
  probe(unshare);
  return {
    record: {
      mode: 'namespaces',
      namespaces,
      hidden: [...new Set(hidden.map((h) => h.what))].sort(),
      capabilities: 'none',
      network,
    },
    wrap: (argv) => [...unshare, 'sh', '-c', SETUP, 'aicert-isolation', ...hidden.map((h) => h.path), '--', ...argv],
  };
}

/**
 * With the host's network the command could reach a TPM served over TCP (a swtpm, a TPM proxy),
 * which no mount hides: refuse that combination instead of certifying a run that could forge itself.
 */
function refuseNetworkTpm(tpm: string): void {
  const address = tpm === 'auto' ? undefined : parseTpmAddress(tpm);
  if (address?.kind === 'swtpm' && address.data.kind !== 'unix')
    throw new UsageError(
      'usage.network',
      `--network host: the TPM ${tpm} is reached over the network, which the command could reach too; serve it on a Unix socket or a device`,
    );
}

interface HiddenPath {
  path: string;
  what: 'tpm-device' | 'tpm-socket' | 'tpm-simulator-directory' | 'aicert-state' | 'tpm-locks';
}

/** Everything through which the command could reach the TPM or aicert's secrets. */
function hiddenPaths(tpm: string, stateDirectory: string): HiddenPath[] {
  const hidden: HiddenPath[] = [];
  for (const device of ['/dev/tpm0', '/dev/tpmrm0'])
    if (existsSync(device)) hidden.push({ path: device, what: 'tpm-device' });
  const address = tpm === 'auto' ? undefined : parseTpmAddress(tpm);
  if (address?.kind === 'device' && existsSync(address.path) && !hidden.some((h) => h.path === address.path)) {
    hidden.push({ path: address.path, what: 'tpm-device' });
  }
  if (address?.kind === 'swtpm' && address.data.kind === 'unix') {
    const socket = realpathOrSelf(address.data.path);
    for (const path of [socket, `${socket}.ctrl`]) if (existsSync(path)) hidden.push({ path, what: 'tpm-socket' });
    // A simulator made by aicert keeps its state (the TPM's secrets) beside its socket.
    const dir = dirname(socket);
    if (existsSync(join(dir, 'state', 'tpm2-00.permall'))) hidden.push({ path: dir, what: 'tpm-simulator-directory' });
  }
  if (existsSync(stateDirectory)) hidden.push({ path: realpathOrSelf(stateDirectory), what: 'aicert-state' });
  // A command as uid 0 could otherwise unlink the lock file and let a second run interleave with this one.
  if (existsSync(LOCK_DIRECTORY)) hidden.push({ path: realpathOrSelf(LOCK_DIRECTORY), what: 'tpm-locks' });
  return hidden;
}

/** Fails early, with the way out, where namespaces cannot be made (no unshare, user namespaces disabled). */
function probe(unshare: readonly string[]): void {
  const result = spawnSync(
    unshare[0]!,
    [...unshare.slice(1), 'setpriv', '--no-new-privs', '--bounding-set=-all', '--', 'true'],
    { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' },
  );
  if (result.status !== 0) {
    const why = result.error
      ? `${unshare[0]} cannot be started (${result.error.message}); install util-linux`
      : (result.stderr.trim().split('\n').at(-1) ?? `exit ${result.status}`);
    throw new EnvironmentError(
      'run.isolation',
      `cannot confine the training command in new namespaces: ${why}. Run aicert as root, enable user namespaces, or pass --isolation none (recorded in the certificate; a policy can refuse it)`,
    );
  }
}

/** The command as it will be found: an early, clear error instead of an exit status 127 from setpriv. */
export function checkExecutable(program: string, path = process.env.PATH ?? ''): void {
  const candidates = program.includes('/')
    ? [program]
    : path
        .split(':')
        .filter(Boolean)
        .map((d) => join(d, program));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return;
    } catch {
      // not this one
    }
  }
  throw new EnvironmentError('run.spawn', `cannot start ${program}: command not found`);
}

function realpathOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}
