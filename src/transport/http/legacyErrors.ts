import { BrokerError, type BrokerErrorCode } from '../../core/BrokerError.js';
import type { Logger } from '../../log/Logger.js';

/** How the legacy API answers each BrokerError code. Registry misses are 200 with success:false, as always. */
const STATUS: Record<BrokerErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 200,
  ALREADY_EXISTS: 200,
  FAILED_PRECONDITION: 409,
  OUT_OF_RANGE: 410,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 401,
  RESOURCE_EXHAUSTED: 413,
  DEADLINE_EXCEEDED: 504,
  UNAVAILABLE: 503,
  UNIMPLEMENTED: 501,
  INTERNAL: 500,
};

/** The legacy status of a code, e.g. for a gRPC client that prints failures as the legacy API reports them. */
export function legacyStatusOf(code: BrokerErrorCode): number {
  return STATUS[code];
}

export interface LegacyErrorReply {
  status: number;
  message: string;
  /** The entry's current revision, when a compare-and-swap found another one. */
  revision?: number | undefined;
  /** An extension's stack (development mode only). */
  stack?: string | undefined;
}

/** The one place a thrown value becomes a legacy status and message. Unknown errors are logged, not shown. */
export function legacyErrorReply(err: unknown, log: Logger): LegacyErrorReply {
  if (BrokerError.isUnexpected(err)) log.error('unexpected error in legacy API', { err });
  const e = BrokerError.from(err);
  return { status: e.details.httpStatus ?? STATUS[e.code], message: e.message, revision: e.details.revision, stack: e.details.stack };
}
