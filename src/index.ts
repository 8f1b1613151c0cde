export * from './errors.js';
export { certifiedRun, type RunOptions, type TrainerOptions } from './run/certified-run.js';
export { verifyCertificate, type VerifyOptions } from './verify/verify-certificate.js';
export type { VerificationReport, CheckResult } from './verify/report.js';
export { parseCertificate, type Certificate } from './cert/certificate.js';
export { auditRun, type AuditOptions } from './audit/audit-run.js';
