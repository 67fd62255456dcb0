/**
 * A safe description of anything an extension throws or rejects with. The value is hostile input: reading its
 * `message` or `stack` may run a getter that throws, and its members may be symbols, functions or objects
 * without a prototype, none of which a structured clone or a template string accepts. Whatever happens, this
 * returns plain text, cut to a size a reason phrase and a log line can carry.
 */

// Taken before any extension code runs, which may replace them.
const objectToString = Object.prototype.toString;
const symbolToString = Symbol.prototype.toString;
const stringSlice = String.prototype.slice;
const StringCtor = String;

const MAX_MESSAGE = 1000;
const MAX_STACK = 16_384;

export interface ThrownDescription {
  message: string;
  /** The stack when the value carries one as text (an Error does). */
  stack: string | undefined;
}

export function describeThrown(value: unknown): ThrownDescription {
  let message: string;
  try {
    message = messageOf(value);
  } catch {
    message = 'Threw a value that cannot be described';
  }
  let stack: string | undefined;
  try {
    const s = typeof value === 'object' && value !== null ? (value as { stack?: unknown }).stack : undefined;
    stack = typeof s === 'string' ? clip(s, MAX_STACK) : undefined;
  } catch {
    stack = undefined;
  }
  return { message: clip(message, MAX_MESSAGE), stack };
}

/** Text for any value: the message of an Error, the text of a string, a short account of anything else. */
export function textOf(value: unknown): string {
  try {
    switch (typeof value) {
      case 'string':
        return value;
      case 'symbol':
        return symbolToString.call(value);
      case 'function':
        return 'a function';
      case 'object':
        return value === null ? 'null' : objectToString.call(value);
      default:
        return StringCtor(value);
    }
  } catch {
    return 'a value that cannot be described';
  }
}

function messageOf(value: unknown): string {
  if (typeof value === 'string') return value === '' ? 'Threw an empty string' : value;
  if (typeof value !== 'object' || value === null) return `Threw ${textOf(value)}`;
  const name = readName(value);
  let m: unknown;
  try {
    m = (value as { message?: unknown }).message;
  } catch {
    return `${name ?? 'A thrown value'} whose message cannot be read`;
  }
  if (typeof m === 'string' && m !== '') return m;
  if (m === undefined || m === '') return name !== undefined && value instanceof Error ? name : `Threw a non-Error value (${textOf(value)})`;
  return `${name ?? 'A thrown value'} whose message is not text (${textOf(m)})`;
}

function readName(value: object): string | undefined {
  try {
    const n = (value as { name?: unknown }).name;
    return typeof n === 'string' && n !== '' ? n : undefined;
  } catch {
    return undefined;
  }
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${stringSlice.call(text, 0, max)}... (${text.length - max} characters cut)`;
}
