/**
 * Polls until `check` holds; resolves to the milliseconds it took. Tests wait for the condition they need,
 * never for a fixed time: `timeoutMs` is only the bound past which the test fails, so make it generous.
 */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 10_000, stepMs = 10, what = 'condition'): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
