import type { KeyValue } from '../../../generated/etcd/mvccpb/kv.js';
import type { Entry } from '../../core/Entry.js';
import { nameOf } from './nameKeys.js';

/**
 * What an entry's etcd value holds besides its JSON: the writer's stamps (so reads need not parse the entry),
 * the lease's TTL (etcd keeps only the lease ID on the key), and the create revision when it is not etcd's own:
 * etcd cannot give an existing key a new create_revision in one Txn (a put and a delete of one key in one Txn
 * are refused), so a Replace of an existing entry is marked `f` (created by this very write: create revision =
 * mod_revision), and later updates of it carry that revision as `c`.
 */
export interface EntryHead {
  ip: string;
  ts: number;
  ttl?: number;
  c?: number;
  f?: 1;
}

const ENTRY = ',"entry":';

/** `{"ip":…,"ts":…[,"ttl":…][,"c":…|"f":1],"entry":ENTRY_JSON}`: JSON still, readable with etcdctl; the entry text last, kept verbatim. */
export function encodeValue(head: EntryHead, json: string): string {
  return `${JSON.stringify(head).slice(0, -1)}${ENTRY}${json}}`;
}

/** The entry an etcd key/value holds; `prefixLength`: bytes of the store's key prefix. */
export function decodeEntry(kv: KeyValue, prefixLength: number): Entry {
  const value = kv.value.toString('utf8');
  // The head is JSON.stringify's output (strings escaped), so the first `,"entry":` ends it.
  const at = value.indexOf(ENTRY);
  const head = JSON.parse(`${value.slice(0, at)}}`) as EntryHead;
  const leased = kv.lease !== '0' && head.ttl;
  return {
    name: nameOf(kv.key.subarray(prefixLength)),
    json: value.slice(at + ENTRY.length, -1),
    lastWriteIp: head.ip,
    lastWriteTs: head.ts,
    createRevision: head.f ? kv.modRevision : (head.c ?? kv.createRevision),
    modRevision: kv.modRevision,
    ...(leased ? { ttl: head.ttl } : {}),
  };
}
