/**
 * What each bpclient command does, apart from parsing flags: call the broker (legacy HTTPS, or gRPC with
 * --grpc), and turn the answer into the exact text the old Python client printed. Failures are thrown as
 * ClientFailure; the command prints them as `Fatal error: MESSAGE` and exits 1.
 */
import { readFileSync } from 'node:fs';
import type { BrokerErrorCode } from '../core/BrokerError.js';
import { legacyStatusOf } from '../transport/http/legacyErrors.js';
import { discover } from './discover.js';
// Only `--grpc` loads grpc-js and the generated clients (a tenth of a second of every other command).
import type { BrokerGrpcClient, Entry } from './grpcClient.js';
import { LegacyClient, LegacyClientError, type LegacyResponse } from './legacyClient.js';
import { formatRecord, type OutputFormat } from './output.js';
import { member, parsePyJson, pyDumps, type PyJson } from './pyJson.js';

export interface ClientContext {
  bpbroker?: string | undefined;
  accessKey?: string | undefined;
  format: OutputFormat;
  cols?: string[] | undefined;
  grpc?: boolean | undefined;
  /** Path of a PEM file to verify the broker's certificate against. */
  ca?: string | undefined;
}

/** A failure to report to the user as `Fatal error: MESSAGE`. */
export class ClientFailure extends Error {
  override name = 'ClientFailure';
}

export type RegistryOp = 'register' | 'replace' | 'update' | 'get' | 'delete';

export interface RegistryArgs {
  name?: string | undefined;
  data?: string | undefined;
  raw?: boolean | undefined;
  /** `--ttl`, as typed: a whole number of seconds (the broker checks the range). */
  ttl?: string | undefined;
  /** `--if-revision`, as typed. */
  ifRevision?: string | undefined;
  /** get: wait up to this many seconds for an absent entry to be written. */
  waitSecs?: number | undefined;
}

/** `service register|replace|update|get|delete`: the text to print. */
export async function registryCommand(ctx: ClientContext, op: RegistryOp, args: RegistryArgs): Promise<string> {
  const ttl = wholeNumberArg(args.ttl, 'Invalid ttl', 0xffffffff);
  const ifRevision = wholeNumberArg(args.ifRevision, 'Invalid if_revision');
  const name = args.name ?? '';
  if (op === 'get' && args.waitSecs !== undefined) return entryText(ctx, await getWhenPresent(ctx, name, args.waitSecs), args.raw);
  const body = await withBroker(ctx, {
    legacy: async (c) => {
      if (op === 'get') return (await c.get(name)).response.body;
      if (op === 'delete') return (await c.delete(name, { ifRevision })).response.body;
      return (await c[op](name, args.data, { ttl, ifRevision })).response.body;
    },
    grpc: async (c) => {
      if (op === 'delete') {
        await c.delete(name, { ...(ifRevision !== undefined ? { ifRevision } : {}) });
        return '{"success": true, "message": "Success"}';
      }
      if (op === 'get') return entryAnswer(await c.get(name));
      return entryAnswer(await c[op](name, args.data ?? '', { ...(ttl !== undefined ? { ttl } : {}), ...(ifRevision !== undefined ? { ifRevision } : {}) }));
    },
  });
  if (op === 'delete' && !args.raw) return '';
  return entryText(ctx, body, args.raw);
}

/**
 * `get --wait S`: the entry's answer as soon as it exists, within S seconds. The watch is set up before the first
 * read (its first batch comes at once): an entry written before it is read, one written after it is seen by it,
 * so no write between the two goes unnoticed. Each change of the name reads it again.
 */
async function getWhenPresent(ctx: ClientContext, name: string, waitSecs: number): Promise<string> {
  const signal = AbortSignal.timeout(Math.round(waitSecs * 1000));
  const body = await withBroker<string | undefined>(ctx, {
    legacy: (c) =>
      readOnChange(c.watch({ name }, { signal }), () =>
        c.get(name).then(
          (r) => r.response.body,
          (err: unknown) => {
            if (err instanceof LegacyClientError && err.status === 200) return undefined; // success false: absent
            throw err;
          },
        ),
      ),
    grpc: (c) =>
      readOnChange(c.watch({ name }, { signal }), () =>
        c.get(name).then(entryAnswer, (err: { code?: number }) => {
          if (err.code === 5) return undefined; // NOT_FOUND
          throw err;
        }),
      ),
  });
  if (body === undefined) throw new ClientFailure(`Entry '${name}' not found within ${waitSecs} seconds`);
  return body;
}

/**
 * Reads on the watch's first batch and on every change after it, until a read finds something; once more when the
 * watch ends (the time is up, perhaps before its first batch: `--wait 0` is one read).
 */
async function readOnChange<T>(watch: AsyncIterable<{ events: unknown[] }>, read: () => Promise<T | undefined>): Promise<T | undefined> {
  let first = true;
  for await (const batch of watch) {
    if (!first && batch.events.length === 0) continue;
    first = false;
    const found = await read();
    if (found !== undefined) return found;
  }
  return read();
}

/** What bpclient prints for an entry answer: the entry's data, or with --raw the whole answer. */
export function entryText(ctx: ClientContext, body: string, raw: boolean | undefined): string {
  const tree = parseBody(body);
  if (raw) return rawText(body, tree);
  return formatRecord(member(tree, 'data') ?? { t: 'obj', members: [] }, ctx.format, ctx.cols);
}

/** A gRPC entry as the legacy API answers it: success, message, data, then its revision and lease. */
export function entryAnswer(e: Entry): string {
  return `{"success": true, "message": "Success", "data": ${entryJson(e)}, "revision": ${e.modRevision}${e.ttl > 0 ? `, "ttl": ${e.ttl}` : ''}}`;
}

/** A whole-number option as typed; undefined when not given. The broker checks ranges; this only the form. */
export function wholeNumberArg(text: string | undefined, invalid: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n > max) throw new ClientFailure(invalid);
  return n;
}

/** `ping`: the echoed data (or with --raw the whole answer, which also holds the address the broker sees). */
export async function pingCommand(ctx: ClientContext, args: { data?: string | undefined; raw?: boolean | undefined }): Promise<string> {
  const body = await withBroker(ctx, {
    legacy: async (c) => okBody(await c.ping(args.data), (r) => messageOf(r) ?? `Response Error ${r.status}`),
    grpc: async (c) => {
      const r = await c.ping(args.data ?? '');
      return `{"src": ${JSON.stringify(r.src)}, "data": ${r.json || 'null'}}`;
    },
  });
  const tree = parseBody(body);
  if (args.raw) return rawText(body, tree);
  return formatRecord(member(tree, 'data') ?? { t: 'null' }, ctx.format, ctx.cols);
}

/** `execute --method ns.Method --data D`: the response body as is. */
export async function executeCommand(ctx: ClientContext, args: { method: string; data?: string | undefined; params?: Record<string, string> }): Promise<string> {
  const dot = args.method.indexOf('.');
  if (dot <= 0 || dot === args.method.length - 1) throw new ClientFailure(`Invalid method '${args.method}': expected NAMESPACE.Method, e.g. ossec.AddAgent`);
  const ns = args.method.slice(0, dot);
  const method = args.method.slice(dot + 1);
  const body = await withBroker(ctx, {
    legacy: async (c) => okBody(await c.execute(ns, method, args.data, args.params), (r) => responseError(r.status, r.statusMessage)),
    grpc: async (c) => {
      const r = await c.execute(ns, method, { data: args.data, params: args.params ?? {} }).catch(async (err: unknown) => {
        throw (await executeRefusal(err)) ?? err;
      });
      if (r.status !== 200) throw new ClientFailure(responseError(r.status, r.statusMessage));
      return r.body;
    },
  });
  // The old client printed the body with `print`, which adds a newline.
  return `${body}\n`;
}

/**
 * `Response Error STATUS (REASON)`: scripts match the old client's `Response Error STATUS` prefix; the broker's
 * reason phrase (e.g. `Unauthorized method`) says why.
 */
function responseError(status: number, reason: string): string {
  return reason ? `Response Error ${status} (${reason})` : `Response Error ${status}`;
}

/**
 * A gRPC refusal of an execute call (unknown package or method, wrong key, time limit) as the legacy API
 * reports it, so `--grpc` prints the same `Response Error STATUS (REASON)`; undefined for connection failures.
 */
async function executeRefusal(err: unknown): Promise<ClientFailure | undefined> {
  const e = err as { code?: unknown; details?: string };
  const grpc = await import('@grpc/grpc-js');
  if (typeof e.code !== 'number' || e.code === grpc.status.UNAVAILABLE) return undefined;
  const name = grpc.status[e.code] as BrokerErrorCode | undefined;
  const status = name === undefined ? undefined : legacyStatusOf(name);
  return status === undefined ? undefined : new ClientFailure(responseError(status, e.details ?? ''));
}

export interface DiscoverCommandArgs {
  name: string;
  address?: string[] | undefined;
  port?: number | undefined;
  timeoutSecs?: number | undefined;
  all?: boolean | undefined;
}

/** `discover`: the broker's IP (with --all, one per line and a warning when several brokers answer). */
export async function discoverCommand(args: DiscoverCommandArgs): Promise<{ stdout: string; warning?: string }> {
  let found: Awaited<ReturnType<typeof discover>>;
  try {
    found = await discover({
      name: args.name,
      addresses: args.address,
      port: args.port,
      timeoutMs: Math.round((args.timeoutSecs ?? 3) * 1000),
      all: args.all,
    });
  } catch (err) {
    throw new ClientFailure((err as Error).message);
  }
  if (found.length === 0) throw new ClientFailure('No results');
  if (!args.all) return { stdout: `${found[0]!.address}\n` };
  const lines = found.map((b) => (args.port === undefined || b.port === args.port ? b.address : `${b.address}:${b.port}`));
  const warning =
    found.length > 1
      ? `Warning: ${found.length} brokers answer for '${args.name}' (split brain): ${lines.join(', ')}. Give each cluster a unique name.`
      : undefined;
  return { stdout: lines.map((l) => `${l}\n`).join(''), ...(warning ? { warning } : {}) };
}

export interface Transports<T> {
  legacy: (c: LegacyClient) => Promise<T>;
  grpc: (c: BrokerGrpcClient) => Promise<T>;
}

/** Runs one action over the protocol the flags chose, with a client that is closed after it. */
export async function withBroker<T>(ctx: ClientContext, run: Transports<T>): Promise<T> {
  if (!ctx.bpbroker) {
    throw new ClientFailure('No bpbroker address: give --bpbroker HOST:PORT or set BPBROKER (find one with `bpclient discover --name NAME`)');
  }
  let ca: string | undefined;
  if (ctx.ca !== undefined) {
    try {
      ca = readFileSync(ctx.ca, 'utf8');
    } catch (err) {
      throw new ClientFailure(`Cannot read CA file ${ctx.ca}: ${(err as Error).message}`);
    }
  }
  if (ctx.grpc) {
    const { connect } = await import('./grpcClient.js');
    const c = connect(ctx.bpbroker, { ...(ca ? { ca } : { insecureSkipVerify: true }), ...(ctx.accessKey !== undefined ? { accessKey: ctx.accessKey } : {}) });
    try {
      return await run.grpc(c);
    } catch (err) {
      throw grpcFailure(err, ctx.bpbroker);
    } finally {
      c.close();
    }
  }
  let c: LegacyClient;
  try {
    c = new LegacyClient(ctx.bpbroker, { ...(ca ? { ca } : {}), ...(ctx.accessKey !== undefined ? { accessKey: ctx.accessKey } : {}) });
  } catch (err) {
    throw new ClientFailure((err as Error).message);
  }
  try {
    return await run.legacy(c);
  } catch (err) {
    if (err instanceof LegacyClientError) throw new ClientFailure(err.message);
    throw err;
  } finally {
    c.close();
  }
}

export function grpcFailure(err: unknown, address: string): Error {
  if (err instanceof ClientFailure) return err;
  const e = err as { code?: number; details?: string; message?: string };
  if (typeof e.code === 'number') {
    // 14 UNAVAILABLE: nothing listening, or not a broker.
    if (e.code === 14) {
      const why = (e.details ?? e.message ?? 'unavailable').split('\n')[0]!.replace(/^No connection established\. Last error: (Error: )?/, '');
      return new ClientFailure(`Cannot connect to bpbroker at ${address} over gRPC: ${why}`);
    }
    return new ClientFailure(e.details || e.message || `gRPC error ${e.code}`);
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** The body of a 200 answer; otherwise a failure with the message `fail` gives. */
function okBody(r: LegacyResponse, fail: (r: LegacyResponse) => string): string {
  if (r.status !== 200) throw new ClientFailure(fail(r));
  return r.body;
}

function messageOf(r: LegacyResponse): string | undefined {
  try {
    const m = (JSON.parse(r.body) as { message?: unknown }).message;
    return typeof m === 'string' && m !== '' ? m : undefined;
  } catch {
    return undefined;
  }
}

function parseBody(body: string): PyJson | undefined {
  try {
    return parsePyJson(body);
  } catch {
    return undefined;
  }
}

function rawText(body: string, tree: PyJson | undefined): string {
  return `${tree ? pyDumps(tree) : body}\n`;
}

/** A gRPC entry as the legacy API shows it: the data members, then the write stamps. */
export function entryJson(e: Entry): string {
  const stamps = `"last_write_ip": ${JSON.stringify(e.lastWriteIp)}, "last_write_ts": ${e.lastWriteTs}`;
  const body = e.json.trim();
  return body === '{}' || body === '' ? `{${stamps}}` : `${body.slice(0, -1)}, ${stamps}}`;
}
