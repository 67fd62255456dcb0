/** The trailer of a gRPC FAILED_PRECONDITION answer that holds the entry's current revision. */
export const REVISION_TRAILER = 'bpbroker-revision';

/** A failure that may carry a compare-and-swap answer: a grpc-js ServiceError, or a LegacyClientError. */
interface MaybeCasFailure {
  code?: unknown;
  metadata?: { get(key: string): unknown[] };
  revision?: unknown;
}

const FAILED_PRECONDITION = 9;

/**
 * The entry's current revision after a write with `ifRevision` was refused (0: the entry does not exist), for
 * the next attempt; undefined for any other failure. Reads the gRPC trailer `bpbroker-revision`, or the
 * `revision` of a legacy 409 answer.
 */
export function currentRevisionOf(err: unknown): number | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const e = err as MaybeCasFailure;
  if (typeof e.revision === 'number') return e.revision;
  if (e.code !== FAILED_PRECONDITION || typeof e.metadata?.get !== 'function') return undefined;
  const value = e.metadata.get(REVISION_TRAILER)[0];
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}
