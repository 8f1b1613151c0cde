/** Carries one whole TPM command to the TPM and returns its whole response. */
export interface TpmTransport {
  readonly description: string;
  send(command: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}
