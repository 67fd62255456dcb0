import { createHash, timingSafeEqual } from 'node:crypto';

/** Compares in constant time; hashing first hides the length of the expected key too. */
export function accessKeyMatches(expected: string, given: string | undefined): boolean {
  const a = createHash('sha256').update(expected, 'utf8').digest();
  const b = createHash('sha256').update(given ?? '', 'utf8').digest();
  return timingSafeEqual(a, b);
}
