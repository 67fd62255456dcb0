import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type TLSSocket } from 'node:tls';
import type { FileEntry, ReadErrors, ReadOptions } from '../config/anyLayout.js';
import { ConfigError } from '../config/ConfigError.js';
import { parseConfigText, readConfigFile } from '../config/ConfigFile.js';
import type { ConfigureInput } from './configureInput.js';
import { loadConfig } from '../config/loadConfig.js';
import { certificatePathFor, statusPathFor } from '../config/paths.js';
import type { LockRecord } from '../config/processIdentity.js';
import type { BrokerOverview } from '../core/overview.js';

export interface RunningChange {
  applied: string[];
  untouched: string[];
}

/** Registry entries named in a refusal; the rest are counted. */
const NAMED_ENTRIES = 3;

/**
 * `bpbroker configure` while a broker holds the file: settings only (no registry entries) are handed to that
 * broker over `POST /_config` on its API port, where it merges them exactly as configure does, uses them on its
 * next call and saves them with its own writer. The connection is to this host only, and the broker must
 * present the certificate its settings name: the input may hold access keys.
 */
export async function configureRunning(home: string, configPath: string | undefined, path: string, holder: LockRecord, input: ConfigureInput, inputName: string): Promise<RunningChange> {
  const entries: string[] = [];
  const errors: ReadErrors = {
    notJson: (detail) => new ConfigError(`${inputName} is not valid JSON: ${detail}`),
    notObject: () => new ConfigError(`${inputName} must hold a JSON object`),
  };
  const read: ReadOptions = { onEntry: (e: FileEntry) => void entries.push(`services.${e.name}`), errors, name: inputName };
  const doc = 'path' in input ? readConfigFile(input.path, read) : parseConfigText(input.text, inputName, read);
  if (!doc) throw new ConfigError(`Cannot read ${inputName}: no such file`);
  if (entries.length > 0) {
    const named = entries.slice(0, NAMED_ENTRIES).join(', ') + (entries.length > NAMED_ENTRIES ? ` and ${entries.length - NAMED_ENTRIES} more` : '');
    throw new ConfigError(
      `A broker (pid ${holder.pid}) is running with ${path}, and ${inputName} holds registry entries (${named}). ` +
        'A running broker takes settings only: register entries through its API (bpclient register), or stop it first (e.g. systemctl stop bpbroker), then try again.',
    );
  }
  const status = runningAddress(path);
  if (status?.pid !== holder.pid || !status.port) throw new ConfigError(`A broker (pid ${holder.pid}) is starting with ${path}. Try again once it is ready.`);
  const api = loadConfig({ home, configPath }).sections.api;
  const certPath = certificatePathFor(home, api);
  let expected: Buffer;
  try {
    expected = new X509Certificate(readFileSync(certPath)).raw;
  } catch (err) {
    throw new ConfigError(`Cannot read the broker's certificate ${certPath}: ${(err as Error).message}`);
  }
  const host = status.listenIp === '' || status.listenIp === '0.0.0.0' || status.listenIp === '::' ? '127.0.0.1' : status.listenIp;
  const socket = await pinnedConnection(host, status.port, expected);
  const body = JSON.stringify({ input: doc.sections, input_name: inputName });
  const reply = await post(socket, body, api.admin_key);
  if (reply.status === 200 && Array.isArray(reply.json?.applied)) return { applied: reply.json.applied, untouched: reply.json.untouched ?? [] };
  const message = typeof reply.json?.message === 'string' ? reply.json.message : `answered ${reply.status}`;
  throw new ConfigError(reply.status === 400 ? message : `The running broker (pid ${holder.pid}) refused the change: ${message}`);
}

/** Where the broker listens, from the status file it keeps beside its configuration (src/server/statusFile.ts). */
function runningAddress(configPath: string): Pick<BrokerOverview, 'pid' | 'port' | 'listenIp'> | undefined {
  try {
    return JSON.parse(readFileSync(statusPathFor(configPath), 'utf8')) as BrokerOverview;
  } catch {
    return undefined;
  }
}

/** A TLS connection to the broker, used only once it presents exactly `expected` (the broker's own certificate). */
function pinnedConnection(host: string, port: number, expected: Buffer): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    // The certificate is compared whole below; a self-signed one has no chain to check.
    const socket = connect({ host, port, servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    socket.once('secureConnect', () => {
      if (socket.getPeerCertificate().raw?.equals(expected)) resolve(socket);
      else {
        socket.destroy();
        reject(new ConfigError(`The process on ${host}:${port} does not present the broker's certificate; nothing was sent.`));
      }
    });
    socket.once('error', (err) => reject(new ConfigError(`Cannot reach the running broker on ${host}:${port}: ${err.message}`)));
  });
}

function post(socket: TLSSocket, body: string, adminKey: string): Promise<{ status: number; json: { applied?: string[]; untouched?: string[]; message?: unknown } | undefined }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) };
    if (adminKey !== '') headers.Authorization = `Bearer ${adminKey}`;
    // Plain HTTP framing over the TLS socket already checked.
    const req = request({ method: 'POST', path: '/_config', headers, createConnection: () => socket }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        socket.destroy();
        let json: unknown;
        try {
          json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, json: json as { applied?: string[]; message?: unknown } | undefined });
      });
    });
    req.on('error', (err) => reject(new ConfigError(`The running broker did not answer: ${err.message}`)));
    req.end(body);
  });
}
