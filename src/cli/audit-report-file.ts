import { type AuditReport, parseAuditReport } from '../audit/audit-report.js';
import { MAX_ENDORSEMENT_BYTES } from '../cert/endorsement.js';
import { InputError } from '../errors.js';
import { readBoundedFile } from '../util/bounded-file.js';

/** Audit reports list every segment and check; 64 MiB is far above any real one. */
const MAX_AUDIT_REPORT_BYTES = MAX_ENDORSEMENT_BYTES * 64;

/** Reads the JSON report of `aicert audit … --out REPORT` (`aicert endorse`, `aicert report`): its bytes and its parsed form. */
export async function readAuditReportFile(path: string): Promise<{ bytes: Buffer; report: AuditReport }> {
  const bytes = await readBoundedFile(path, MAX_AUDIT_REPORT_BYTES, 'audit report');
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new InputError('audit.report-schema', `${path} is not JSON`);
  }
  return { bytes, report: parseAuditReport(json) };
}
