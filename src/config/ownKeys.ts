/**
 * Sets a member as an own property whatever its name: plain assignment of `__proto__` would change the
 * object's prototype instead of adding a member, as JSON.parse does.
 */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}
