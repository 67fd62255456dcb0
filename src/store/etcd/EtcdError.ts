import * as grpc from '@grpc/grpc-js';
import type { BrokerErrorCode } from '../../core/BrokerError.js';

/** The codes the etcd store reports: a subset of BrokerError's, so core can wrap one without a table. */
export type EtcdErrorCode = Extract<
  BrokerErrorCode,
  'INVALID_ARGUMENT' | 'NOT_FOUND' | 'FAILED_PRECONDITION' | 'OUT_OF_RANGE' | 'UNAUTHENTICATED' | 'PERMISSION_DENIED' | 'RESOURCE_EXHAUSTED' | 'UNAVAILABLE' | 'INTERNAL'
>;

/**
 * The one error of the etcd store layer. `code` and `message` are what a client of the broker may see
 * (e.g. UNAVAILABLE `Registry unavailable: 127.0.0.1:2379: connect ECONNREFUSED`); `grpcCode` and `details` are
 * etcd's own answer, for logs.
 */
export class EtcdError extends Error {
  override readonly name: string = 'EtcdError';
  /**
   * A call that changes etcd lost its connection or ran out of time after it was sent: etcd may have applied it.
   * Set by EtcdCaller.
   */
  mayBeApplied = false;

  constructor(
    readonly code: EtcdErrorCode,
    message: string,
    readonly grpcCode?: grpc.status,
    readonly details?: string,
  ) {
    super(message);
  }
}

/** A watch (or a read) asked for history that etcd has compacted away; `compactRevision` is the oldest one left. */
export class EtcdCompactedError extends EtcdError {
  override readonly name = 'EtcdCompactedError';

  constructor(readonly compactRevision: number) {
    super('OUT_OF_RANGE', `Registry history before revision ${compactRevision} is compacted`);
  }
}

export function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as Partial<grpc.ServiceError>).code === 'number' && 'metadata' in err;
}

/** Maps etcd's status (or a cancel reason of a watch, `code` undefined) to the store's error. */
export function etcdErrorOf(code: grpc.status | undefined, grpcDetails: string, endpoint: string): EtcdError {
  const details = grpcDetails.replace(/\. Resolution note: .*$/s, ''); // grpc-js's resolver remark, empty for IPs
  const at = `${endpoint}: ${details}`;
  if (/permission denied/.test(details)) return new EtcdError('PERMISSION_DENIED', `Registry access denied: ${details}`, code, details);
  if (/invalid auth token|authentication failed|user name is empty|auth store is old|user name not found/.test(details)) {
    return new EtcdError('UNAUTHENTICATED', `Registry login failed: ${details}`, code, details);
  }
  if (/compacted/.test(details)) return new EtcdError('OUT_OF_RANGE', `Registry history is compacted: ${details}`, code, details);
  switch (code) {
    case grpc.status.UNAVAILABLE:
    case grpc.status.DEADLINE_EXCEEDED:
    case grpc.status.CANCELLED:
      return new EtcdError('UNAVAILABLE', `Registry unavailable: ${at}`, code, details);
    case grpc.status.NOT_FOUND:
      return new EtcdError('NOT_FOUND', `Registry: ${details}`, code, details);
    case grpc.status.INVALID_ARGUMENT:
      return new EtcdError('INVALID_ARGUMENT', `Registry refused the request: ${details}`, code, details);
    case grpc.status.FAILED_PRECONDITION:
      return new EtcdError('FAILED_PRECONDITION', `Registry refused the request: ${details}`, code, details);
    case grpc.status.OUT_OF_RANGE:
      return new EtcdError('OUT_OF_RANGE', `Registry: ${details}`, code, details);
    case grpc.status.RESOURCE_EXHAUSTED:
      return new EtcdError('RESOURCE_EXHAUSTED', `Registry is full: ${details}`, code, details);
    case grpc.status.UNAUTHENTICATED:
      return new EtcdError('UNAUTHENTICATED', `Registry login failed: ${details}`, code, details);
    case grpc.status.PERMISSION_DENIED:
      return new EtcdError('PERMISSION_DENIED', `Registry access denied: ${details}`, code, details);
    default:
      return new EtcdError('INTERNAL', `Registry error: ${at}`, code, details);
  }
}

/** Any failure of a call to `endpoint` as the store's error. */
export function toEtcdError(err: unknown, endpoint: string): EtcdError {
  if (err instanceof EtcdError) return err;
  if (isServiceError(err)) return etcdErrorOf(err.code, err.details || err.message, endpoint);
  return new EtcdError('INTERNAL', `Registry error: ${endpoint}: ${err instanceof Error ? err.message : String(err)}`);
}
