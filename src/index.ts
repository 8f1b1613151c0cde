export * from './errors.js';
export { certifiedRun, type RunOptions, type TrainerOptions } from './run/certified-run.js';
export { verifyQuote, type QuoteEvidence, type VerifiedQuote } from './evidence/quote.js';
export { verifyCertificate, type VerifyOptions, type VerifiedCertificate } from './verify/verify-certificate.js';
export type { VerifiedRun } from './verify/verified-run.js';
export type { VerificationReport, VerifyCheckId } from './verify/report.js';
export type { CheckResult } from './verify/checklist.js';
export { parseCertificate, type AicertCertificate } from './cert/certificate.js';
export { auditRun, type AuditOptions } from './audit/audit-run.js';
