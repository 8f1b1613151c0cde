import { VerificationError } from '../errors.js';
import type {
  ArtifactEvent,
  CheckpointEvent,
  CommandEvent,
  CommitmentEvent,
  EnvironmentEvent,
  ExitEvent,
  RunEvent,
  RunEventType,
  SessionEvent,
} from './run-events.js';

/** A run's events by role, in the one order a run records them. */
export interface RunLog {
  session: SessionEvent;
  environment: EnvironmentEvent;
  inputs: ArtifactEvent[];
  command: CommandEvent;
  commitment: CommitmentEvent;
  /** Position of the commitment in the log: the start quote covers the events up to it. */
  commitmentIndex: number;
  checkpoints: CheckpointEvent[];
  exit: ExitEvent;
  outputs: ArtifactEvent[];
}

const RUN_ORDER = /^session environment (input )+command commitment (checkpoint )*exit( output)*$/;

/**
 * Checks that event kinds come in the only valid order: session, environment, inputs (≥ 1),
 * command, commitment, checkpoints, exit, outputs. Returns the commitment's index.
 */
export function checkRunOrder(types: readonly RunEventType[]): number {
  const joined = types.join(' ');
  if (!RUN_ORDER.test(joined)) {
    throw new VerificationError(
      'eventlog.order',
      'the events are not in the order of a run (session, environment, inputs, command, commitment, checkpoints, exit, outputs): ' +
        `got "${joined}"`,
    );
  }
  return types.indexOf('commitment');
}

/** The events of a run by role; throws `eventlog.order` unless they are in the order of a run. */
export function readRunLog(events: readonly RunEvent[]): RunLog {
  const commitmentIndex = checkRunOrder(events.map((e) => e.type));
  const ofType = <T extends RunEvent['type']>(type: T) =>
    events.filter((e): e is Extract<RunEvent, { type: T }> => e.type === type);
  const [session] = ofType('session');
  const [environment] = ofType('environment');
  const [command] = ofType('command');
  const [commitment] = ofType('commitment');
  const [exit] = ofType('exit');
  // checkRunOrder matched exactly one of each of these.
  return {
    session: session!,
    environment: environment!,
    inputs: events.filter((e): e is ArtifactEvent => e.type === 'input'),
    command: command!,
    commitment: commitment!,
    commitmentIndex,
    checkpoints: ofType('checkpoint'),
    exit: exit!,
    outputs: events.filter((e): e is ArtifactEvent => e.type === 'output'),
  };
}
