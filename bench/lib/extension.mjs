// The extension scenario needs the broker to load extensions; until it does, the bench says so and skips it.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './procs.mjs';

export function extensionSupport() {
  const server = join(ROOT, 'dist/src/server/BrokerServer.js');
  if (!existsSync(server)) return { ok: false, reason: 'dist/ is not built' };
  if (!readFileSync(server, 'utf8').includes('createExtensionHost')) return { ok: false, reason: 'the broker does not start an extension host yet' };
  return { ok: true };
}

/** An extension `benchext` with one method that answers a small JSON object, like ping does. */
export function installBenchExtension(home) {
  const lib = join(home, 'lib');
  mkdirSync(lib, { recursive: true });
  writeFileSync(join(lib, 'benchext.mjs'), 'export function Echo(rh) {\n  rh.data = { src: rh.requestingHost(), data: rh.qs.data ?? null };\n}\n');
  mkdirSync(join(home, 'etc'), { recursive: true });
  writeFileSync(join(home, 'etc/bpbroker.json'), '{"benchext": {}}\n', { mode: 0o600 });
  return { path: '/benchext/Echo/?data=1' };
}
