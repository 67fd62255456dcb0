// Registers an OSSEC agent on the manager the broker runs on, as the original broker's ossec.AddAgent did:
//   bpclient --bpbroker $MASTER:20443 --access-key "$KEY" execute --method ossec.AddAgent --data $(hostname)
// answers "ID NAME IP KEY", the line the agent imports with `manage_agents -i`.
//
// The keys file: config `ossec.client_keys`, else $OSSEC_CLIENT_KEYS, else $OSSEC_DIR/etc/client.keys
// (OSSEC_DIR defaults to /var/ossec). Optional `ossec.restart_command`, e.g. ["/var/ossec/bin/ossec-control", "restart"],
// runs after a successful add.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFile, open, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const HOST_NAME = /^[a-z0-9]([a-z0-9.-]{0,253})$/i;

/** @param {import('bpbroker/extension').RequestHandler} rh */
export async function AddAgent(rh) {
  const name = rh.qs.data;
  if (!name || !HOST_NAME.test(name)) {
    rh.status = 500;
    rh.statusMessage = 'Invalid source host name content';
    return;
  }
  const ip = rh.requestingHost();
  const keysFile = _keysFile(rh.config);
  const line = await _withLock(`${keysFile}.lock`, async () => {
    const lines = await _readLines(keysFile);
    if (lines.some((l) => l.split(/\s+/)[2] === ip)) return undefined;
    const ids = lines.map((l) => Number.parseInt(l.split(/\s+/)[0] ?? '', 10)).filter(Number.isFinite);
    const id = String((ids.length ? Math.max(...ids) : 0) + 1).padStart(3, '0');
    const key = randomBytes(32).toString('hex');
    const entry = `${id} ${name} ${ip} ${key}`;
    await appendFile(keysFile, `${entry}\n`, { mode: 0o640 });
    return entry;
  });
  if (line === undefined) {
    rh.status = 500;
    rh.statusMessage = 'Unable to add requested host IP in use';
    return;
  }
  const restart = rh.config.restart_command;
  if (Array.isArray(restart) && restart.length > 0) {
    await promisify(execFile)(String(restart[0]), restart.slice(1).map(String)).catch((err) =>
      rh.log.warn('ossec restart failed', { error: String(err) }),
    );
  }
  rh.log.info('ossec agent added', { name, ip });
  rh.data = line;
}

export function _keysFile(config) {
  if (typeof config.client_keys === 'string' && config.client_keys) return config.client_keys;
  if (process.env.OSSEC_CLIENT_KEYS) return process.env.OSSEC_CLIENT_KEYS;
  return join(process.env.OSSEC_DIR || '/var/ossec', 'etc', 'client.keys');
}

async function _readLines(file) {
  try {
    return (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  } catch (err) {
    if (err.code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * A lock file, so two calls (or a reloaded version and the old one, or manage_agents run by hand through the
 * same convention) never hand out the same id. A lock left by a crash is taken over after 30 s.
 */
async function _withLock(lockFile, fn) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const handle = await open(lockFile, 'wx');
      try {
        return await fn();
      } finally {
        await handle.close();
        await unlink(lockFile).catch(() => undefined);
      }
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      const age = await stat(lockFile).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > 30_000) await unlink(lockFile).catch(() => undefined);
      else if (Date.now() > deadline) throw new Error(`Keys file is locked: ${lockFile}`);
      else await new Promise((r) => setTimeout(r, 20));
    }
  }
}
