import type { AuditReport } from '../audit/audit-report.js';
import type { CheckedEndorsement } from '../cert/endorsement.js';
import type { AkTrust } from '../evidence/ak-trust.js';
import type { BootFacts } from '../evidence/boot-log/boot-facts.js';
import type {
  ArtifactEvent,
  CheckpointEvent,
  CommandEvent,
  CommitmentEvent,
  EnvironmentEvent,
  ExitEvent,
  SessionEvent,
} from '../protocol/run-events.js';
import type { VerificationReport } from '../verify/report.js';

/**
 * Everything the report page shows, as plain data (strings, numbers, arrays; digests in hex,
 * TPM clocks as decimal strings): `collectReport` fills it on Node from a verification, and
 * `renderReport` turns it into HTML with no Node API, so a browser can render the same model.
 * Every string in it may come from the certificate and is escaped when rendered.
 */
export interface ReportModel {
  aicertVersion: string;
  /** When the page was made (ISO 8601). */
  generatedAt: string;
  certificate: { name: string; sha256: string; bytes: number };
  verification: VerificationReport;
  /** What the certificate says about the run; absent when it is not even an aicert certificate. */
  run?: RunFacts;
  /** Endorsements that verified (`verification.facts.endorsements`). */
  endorsements: CheckedEndorsement[];
  /** The audit report given with --audit, checked to be about this certificate. */
  audit?: AuditReport;
}

/**
 * The run as the event log and quotes tell it. `verified` is true only when every check passed:
 * the values are then the verifier's; otherwise they are the certificate's claims, read leniently
 * (a malformed event is listed in the timeline but not summarized) and shown as claims.
 */
export interface RunFacts {
  verified: boolean;
  /** Where the events were extended, e.g. "NV index 0x01500000" or "PCR 23". */
  register?: string;
  /** The application PCR the run extended, when that was its register. */
  pcr?: number;
  akName?: string;
  /** The AK certificate chain shipped in the certificate, leaf first, as far as it parses. */
  akChain: CertificateSummary[];
  akTrust?: Pick<AkTrust, 'level' | 'reason' | 'subject' | 'issuer'> & { acceptedUntrusted?: boolean };
  session?: SessionEvent;
  environment?: EnvironmentEvent;
  inputs: ArtifactEvent[];
  command?: CommandEvent;
  commitment?: CommitmentEvent;
  commitmentIndex?: number;
  checkpoints: CheckpointEvent[];
  exit?: ExitEvent;
  outputs: ArtifactEvent[];
  quotes: QuoteFacts[];
  /** Every record of the event log, in order. */
  events: TimelineEvent[];
  /** Whether the certificate carries the firmware's boot event log (`evidence.tpm.bootLog`). */
  bootLogCarried?: boolean;
  /** The boot facts the verifier read from that log (`VerifiedRun.boot`); only when verified. */
  boot?: BootFacts;
  /** A multi-node run (docs/distributed.md): the group, and every node's facts, rank 0's first. */
  group?: GroupFacts;
}

export interface GroupFacts {
  runId: string;
  /** SHA-256 of the group commitment, hex; absent when it is not even well formed. */
  digest?: string;
  /** The data the group claims (dataset manifest roots). */
  data: string[];
  /** The shard plan rank 0 was given, when it was given one. */
  shardPlan?: string[][];
  /** Whether the nodes ran the trainer protocol (the group fixed r for their seed). */
  trainer: boolean;
  /** Every node, by rank: its shard and its own run's facts (rank 0's are this run's). */
  nodes: Array<{ rank: number; shard: string[]; facts: RunFacts }>;
}

export interface CertificateSummary {
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  /** SHA-256 of the DER, hex. */
  sha256: string;
}

export interface QuoteFacts {
  phase: 'start' | 'end';
  /** TPM clock in ms, decimal; absent when the quote's attest structure does not parse. */
  clockMs?: string;
  resetCount?: number;
  restartCount?: number;
  /** SHA-256 bank, PCR index → hex value. */
  pcrs: Record<string, string>;
}

export interface TimelineEvent {
  /** Position in the log, from 0. */
  index: number;
  type: string;
  /** SHA-256 of the event's content as recorded, hex. */
  digest: string;
  /** One line saying what the event is (a name, an index, an exit status); empty if malformed. */
  label: string;
}
