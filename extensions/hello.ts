// A TypeScript extension: no build step, the broker transpiles it when it loads.
// It keeps a per-caller counter in the registry. Call: bpclient execute --method hello.Greet --data Ada
import type { RequestHandler } from 'bpbroker/extension';

interface Greeting {
  greeting: string;
  calls: number;
}

export async function Greet(rh: RequestHandler): Promise<Greeting> {
  const who = rh.qs.data || 'world';
  const key = `hello-calls-${rh.requestingHost()}`;
  const prev = await rh.registry.get(key);
  const calls = (typeof prev?.calls === 'number' ? prev.calls : 0) + 1;
  await rh.registry.update(key, { calls });
  return { greeting: `Hello, ${who}!`, calls };
}
