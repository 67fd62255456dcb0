import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RunningBroker, startBroker, tempDir } from './broker.js';

/**
 * A real broker whose registry lives in etcd at `endpoints`, under `prefix`; `sections` are more settings of its
 * bpbroker.json (extensions' sections), `lib` extension files written to its $BPBROKER_HOME/lib.
 */
export async function startEtcdBroker(
  endpoints: string[],
  prefix: string,
  opts: { sections?: Record<string, unknown>; lib?: Record<string, string>; home?: string } = {},
): Promise<RunningBroker> {
  const home = opts.home ?? tempDir('bpbroker-etcd-broker-');
  mkdirSync(join(home, 'etc'), { recursive: true });
  const config = { registry: { backend: 'etcd', etcd_endpoints: endpoints, etcd_prefix: prefix }, ...opts.sections };
  writeFileSync(join(home, 'etc', 'bpbroker.json'), JSON.stringify(config, null, 2));
  if (opts.lib) {
    mkdirSync(join(home, 'lib'), { recursive: true });
    for (const [name, text] of Object.entries(opts.lib)) writeFileSync(join(home, 'lib', name), text);
  }
  return startBroker({ home });
}
