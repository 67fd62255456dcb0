/**
 * The one error type of the broker. Codes follow gRPC's status names so the gRPC adapter maps them 1:1;
 * the legacy HTTP adapter maps each code to the status the legacy spec requires.
 */
export type BrokerErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'OUT_OF_RANGE'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'DEADLINE_EXCEEDED'
  | 'UNAVAILABLE'
  | 'UNIMPLEMENTED'
  | 'INTERNAL';

export class BrokerError extends Error {
  override readonly name = 'BrokerError';

  constructor(
    readonly code: BrokerErrorCode,
    message: string,
    /**
     * Extra facts for a transport: an extension's own HTTP status; the entry's current revision when a
     * compare-and-swap finds another one; an extension's stack in development.
     */
    readonly details: {
      httpStatus?: number;
      revision?: number;
      /** Where an extension failed (its stack): set only by a broker in development mode; transports send it on. */
      stack?: string;
    } = {},
  ) {
    super(message);
  }

  /** Wraps anything thrown into a BrokerError; unknown errors become INTERNAL without leaking their stack. */
  static from(err: unknown): BrokerError {
    if (err instanceof BrokerError) return err;
    const sys = systemErrorCode(err);
    if (sys === 'ENOSPC' || sys === 'EDQUOT') return new BrokerError('RESOURCE_EXHAUSTED', 'Storage is full: write not saved', { httpStatus: 507 });
    if (sys === 'EROFS' || sys === 'EIO') return new BrokerError('UNAVAILABLE', 'Storage is not writable: write not saved');
    return new BrokerError('INTERNAL', 'Internal error');
  }

  static isUnexpected(err: unknown): boolean {
    return !(err instanceof BrokerError);
  }
}

function systemErrorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}
