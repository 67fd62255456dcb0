import {
  Compare,
  Compare_CompareResult,
  Compare_CompareTarget,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  type RequestOp,
} from '../../../generated/etcd/etcdserverpb/rpc.js';
import { type Bytes, bytes, prefixEnd } from './keys.js';

/** What a Txn compares: the key's last-write revision, creation revision (0 = absent) or version (writes since created). */
export type CompareTarget = 'mod_revision' | 'create_revision' | 'version';
export type CompareOp = '=' | '!=' | '<' | '>';

const RESULT: Record<CompareOp, Compare_CompareResult> = {
  '=': Compare_CompareResult.EQUAL,
  '!=': Compare_CompareResult.NOT_EQUAL,
  '<': Compare_CompareResult.LESS,
  '>': Compare_CompareResult.GREATER,
};

/**
 * One condition of a Txn, e.g. `compare('web-1', 'mod_revision', '=', 42)`: the compare-and-swap on a revision.
 * `compare(key, 'create_revision', '=', 0)` holds when the key does not exist.
 */
export function compare(key: Bytes, target: CompareTarget, op: CompareOp, value: number): Compare {
  const base = { result: RESULT[op], key: bytes(key) };
  switch (target) {
    case 'mod_revision':
      return Compare.fromPartial({ ...base, target: Compare_CompareTarget.MOD, modRevision: value });
    case 'create_revision':
      return Compare.fromPartial({ ...base, target: Compare_CompareTarget.CREATE, createRevision: value });
    case 'version':
      return Compare.fromPartial({ ...base, target: Compare_CompareTarget.VERSION, version: value });
  }
}

/** The operations a Txn runs in its then or else branch. */
export const op = {
  get(key: Bytes, opts: { prefix?: boolean } = {}): RequestOp {
    return { requestRange: RangeRequest.fromPartial({ key: bytes(key), rangeEnd: opts.prefix ? prefixEnd(key) : Buffer.alloc(0) }) };
  },
  put(key: Bytes, value: Bytes, opts: { lease?: string; prevKv?: boolean } = {}): RequestOp {
    return { requestPut: PutRequest.fromPartial({ key: bytes(key), value: bytes(value), lease: opts.lease ?? '0', prevKv: opts.prevKv ?? false }) };
  },
  delete(key: Bytes, opts: { prefix?: boolean; prevKv?: boolean } = {}): RequestOp {
    return {
      requestDeleteRange: DeleteRangeRequest.fromPartial({ key: bytes(key), rangeEnd: opts.prefix ? prefixEnd(key) : Buffer.alloc(0), prevKv: opts.prevKv ?? false }),
    };
  },
};
