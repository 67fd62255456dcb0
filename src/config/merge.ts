export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Member names are data: `toString`, `constructor` or `__proto__` are names like any other. Reads look at own
 * members only (`in` and a plain read see Object.prototype), and writes define a member (an assignment to
 * `__proto__` would replace the prototype instead).
 */
export function ownValue(obj: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Deep merge where `over` wins: objects merge member by member, anything else replaces. Returns a new object. */
export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = ownValue(out, k);
    setOwn(out, k, isPlainObject(b) && isPlainObject(v) ? deepMerge(b, v) : v);
  }
  return out;
}

export interface AdditiveResult {
  merged: Record<string, unknown>;
  /** Dotted paths of values that were new and got applied. */
  applied: string[];
  /** Dotted paths of values that already existed and were left as they were. */
  untouched: string[];
}

/**
 * The `configure` merge: a value is applied only where the target has none; existing values stay untouched,
 * whatever the input says. Objects on both sides merge member by member.
 */
export function additiveMerge(target: Record<string, unknown>, input: Record<string, unknown>, prefix = ''): AdditiveResult {
  const merged: Record<string, unknown> = { ...target };
  const applied: string[] = [];
  const untouched: string[] = [];
  for (const [k, v] of Object.entries(input)) {
    const path = prefix ? `${prefix}.${k}` : k;
    const existing = ownValue(merged, k);
    if (!Object.hasOwn(merged, k)) {
      setOwn(merged, k, v);
      applied.push(path);
    } else if (isPlainObject(existing) && isPlainObject(v)) {
      const sub = additiveMerge(existing, v, path);
      setOwn(merged, k, sub.merged);
      applied.push(...sub.applied);
      untouched.push(...sub.untouched);
    } else {
      untouched.push(path);
    }
  }
  return { merged, applied, untouched };
}
