import { BrokerError } from './BrokerError.js';

/**
 * The options of writes and watches, as the legacy API sends them (text) or gRPC (numbers), checked once here.
 */
export interface WriteOptions {
  /** Compare-and-swap: write only if the entry is at this revision (0: only if it does not exist). */
  ifRevision?: string | number | undefined;
  /** Lease in seconds (1 to 86,400); 0 removes the entry's lease; absent keeps it as it is. */
  ttl?: string | number | undefined;
}

export interface WatchRequest {
  /** One entry's name... */
  name?: string | undefined;
  /** ...or a prefix of names (empty: every entry). */
  prefix?: string | undefined;
  /** Events after this revision (default: the newest, so only what changes from now). */
  after?: string | number | undefined;
}

/** Longest a long-poll waits, in seconds; the default. */
export const MAX_WAIT_SECS = 300;
export const DEFAULT_WAIT_SECS = 30;
/** Longest lease, in seconds (a day). */
export const MAX_TTL_SECS = 86_400;

const INTEGER = /^(0|[1-9]\d*)$/;

/** A whole number of 0 or more, from text or a number; undefined when it is not one. */
function wholeNumber(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (!INTEGER.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function ifRevisionOf(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = wholeNumber(value);
  if (n === undefined) throw new BrokerError('INVALID_ARGUMENT', 'Invalid if_revision');
  return n;
}

export function ttlOf(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = wholeNumber(value);
  if (n === undefined || n > MAX_TTL_SECS) throw new BrokerError('INVALID_ARGUMENT', 'Invalid ttl');
  return n;
}

export function revisionOf(value: string | number): number {
  const n = wholeNumber(value);
  if (n === undefined) throw new BrokerError('INVALID_ARGUMENT', 'Invalid revision');
  return n;
}

/** A long-poll's wait in milliseconds: seconds from 0 to 300 (more is cut to 300), default 30. */
export function waitOf(value: string | number | undefined): number {
  if (value === undefined || value === '') return DEFAULT_WAIT_SECS * 1000;
  const secs = typeof value === 'number' ? value : /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(secs) || secs < 0) throw new BrokerError('INVALID_ARGUMENT', 'Invalid wait');
  return Math.min(secs, MAX_WAIT_SECS) * 1000;
}
