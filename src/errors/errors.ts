// Typed errors with stable codes. They travel through the core untouched and are
// converted only at the edges (admission deny, gRPC status, HTTP 5xx, requeue).

export type WeftErrorCode =
  | 'WEFT_E_INVALID_INPUT'
  | 'WEFT_E_INVALID_CONFIG'
  | 'WEFT_E_NOT_FOUND'
  | 'WEFT_E_CONFLICT'
  | 'WEFT_E_UNAUTHENTICATED'
  | 'WEFT_E_PERMISSION_DENIED'
  | 'WEFT_E_UNAVAILABLE'
  | 'WEFT_E_TERMINAL'
  | 'WEFT_E_INTERNAL';

export class WeftError extends Error {
  readonly code: WeftErrorCode;
  /** Structured context for logs; never interpolated into the message. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: WeftErrorCode, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = 'WeftError';
    this.code = code;
    this.details = Object.freeze({ ...details });
  }
}

export function isWeftError(e: unknown, code?: WeftErrorCode): e is WeftError {
  return e instanceof WeftError && (code === undefined || e.code === code);
}

export function invalidInput(message: string, details: Record<string, unknown> = {}): WeftError {
  return new WeftError('WEFT_E_INVALID_INPUT', message, details);
}

/** Best-effort message for any thrown value, for the edges that must print something. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
