/**
 * Errors that aicert reports to users. Every failure carries a stable `code` (for scripts and
 * tests) and the exit status the CLI uses for it (docs/architecture.md, "Errors and exit statuses"):
 *   1 not verified, 2 unusable input or usage, 3 environment (TPM unavailable, TPM error).
 */
export type ExitStatus = 1 | 2 | 3;

export class AicertError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitStatus: ExitStatus = 2,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AicertError';
  }
}

/** Bad bytes or bad files given by the user: unusable input (exit 2). */
export class InputError extends AicertError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, 2, options);
    this.name = 'InputError';
  }
}

/** The command was asked for something it cannot do: a missing flag or input, a bad combination (exit 2). */
export class UsageError extends InputError {
  constructor(code: `usage.${string}`, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'UsageError';
  }
}

/** The environment failed us: no TPM, TPM error, missing tool (exit 3). */
export class EnvironmentError extends AicertError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, 3, options);
    this.name = 'EnvironmentError';
  }
}

/** Evidence was checked and found wanting (exit 1). */
export class VerificationError extends AicertError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, 1, options);
    this.name = 'VerificationError';
  }
}
