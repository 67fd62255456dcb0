import { BrokerError } from '../../core/BrokerError.js';
import { type EtcdCompactedError, EtcdError } from './EtcdError.js';

/** An etcd store failure as the core's error: EtcdError's codes are BrokerError's, its messages are for clients. */
export function brokerErrorOf(err: unknown): BrokerError {
  if (err instanceof BrokerError) return err;
  if (err instanceof EtcdError) return new BrokerError(err.code, err.message);
  return BrokerError.from(err);
}

/**
 * A write's Txn failed: when etcd may have applied it (its connection dropped after it was sent), the answer
 * says so, since the client cannot tell it from a write that never arrived; otherwise as brokerErrorOf.
 */
export function writeErrorOf(err: unknown): BrokerError {
  if (err instanceof EtcdError && err.mayBeApplied) {
    return new BrokerError(err.code, `${err.message}; the write may have been applied; read the entry before writing it again`);
  }
  return brokerErrorOf(err);
}

/**
 * A watch from `after` found etcd's history compacted: the embedded store's answer, with the oldest `after` a
 * watch may start from (etcd serves a watch that starts at its compact revision, so one from just before it).
 */
export function compactedError(after: number, err: EtcdCompactedError): BrokerError {
  return new BrokerError(
    'OUT_OF_RANGE',
    `Revision ${after} compacted: oldest available is ${err.compactRevision - 1}; read the current state with List and watch from its revision`,
  );
}
