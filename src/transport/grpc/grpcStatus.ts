import * as grpc from '@grpc/grpc-js';
import { BrokerError, type BrokerErrorCode } from '../../core/BrokerError.js';
import type { Logger } from '../../log/Logger.js';

/** The one mapping from broker error codes to gRPC status codes (they share names by design). */
export const GRPC_STATUS: Readonly<Record<BrokerErrorCode, grpc.status>> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  NOT_FOUND: grpc.status.NOT_FOUND,
  ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  OUT_OF_RANGE: grpc.status.OUT_OF_RANGE,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  RESOURCE_EXHAUSTED: grpc.status.RESOURCE_EXHAUSTED,
  DEADLINE_EXCEEDED: grpc.status.DEADLINE_EXCEEDED,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  UNIMPLEMENTED: grpc.status.UNIMPLEMENTED,
  INTERNAL: grpc.status.INTERNAL,
};

/**
 * Turns anything a handler threw into the status sent to the client. Errors the broker did not expect are
 * logged with their stack and answered INTERNAL with a generic message, so no internals reach the client.
 */
export function toServiceError(err: unknown, log: Logger, method: string): Partial<grpc.StatusObject> {
  if (BrokerError.isUnexpected(err)) log.error('gRPC call failed unexpectedly', { method, err });
  const be = BrokerError.from(err);
  const { revision, stack } = be.details;
  if (revision === undefined && stack === undefined) return { code: GRPC_STATUS[be.code], details: be.message };
  const metadata = new grpc.Metadata();
  // A compare-and-swap that found another revision says which, for the client's next attempt.
  if (revision !== undefined) metadata.set(REVISION_TRAILER, String(revision));
  // Metadata values are one line of printable ASCII.
  if (stack !== undefined) metadata.set(STACK_TRAILER, encodeURIComponent(stack));
  return { code: GRPC_STATUS[be.code], details: be.message, metadata };
}

/** Trailer of a failed extension call on a broker in development mode: its stack, percent-encoded. */
export const STACK_TRAILER = 'bpbroker-stack';

/** Trailer of a FAILED_PRECONDITION answer: the entry's current revision (0 when absent). */
export const REVISION_TRAILER = 'bpbroker-revision';

/** Status code names by code (`OK`, `NOT_FOUND`, ...): the metrics' status label. */
export const STATUS_NAMES: readonly string[] = Object.values(grpc.status).filter((v): v is string => typeof v === 'string');
