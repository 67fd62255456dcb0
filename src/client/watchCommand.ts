/**
 * `bpclient service watch`: one line per change, as it happens, over either protocol, until interrupted; or,
 * with --once, the first batch of changes (waiting at most --wait seconds for one).
 */
import { WatchEvent_Type, type WatchEvent } from '../../generated/bpbroker/v1/registry.js';
import { ClientFailure, entryJson, withBroker, type ClientContext } from './bpclient.js';
import type { WatchTarget } from './grpcWatch.js';
import type { LegacyWatchEvent } from './legacyWatch.js';
import { formatRecord, pick } from './output.js';
import { parsePyJson, pyDumps, type PyJson } from './pyJson.js';

export interface WatchCommandArgs {
  name?: string | undefined;
  prefix?: string | undefined;
  /** Print the changes after this revision (default: only those from now on). */
  revision?: number | undefined;
  once?: boolean | undefined;
  /** With --once: give up after this many seconds without a change. */
  waitSecs?: number | undefined;
}

export interface WatchIo {
  /** Ends the watch cleanly (SIGINT, SIGTERM). */
  signal: AbortSignal;
  out(text: string): void;
  warn(text: string): void;
}

/** One change, whichever protocol brought it. */
interface PrintedEvent {
  type: string;
  name: string;
  revision: number;
  data?: PyJson | undefined;
}

const TYPE_NAMES: Record<number, string> = { [WatchEvent_Type.PUT]: 'put', [WatchEvent_Type.DELETE]: 'delete', [WatchEvent_Type.EXPIRE]: 'expire' };

/** Resolves when the watch ends as asked (interrupted, or --once satisfied); throws a ClientFailure otherwise. */
export async function watchCommand(ctx: ClientContext, args: WatchCommandArgs, io: WatchIo): Promise<void> {
  if (ctx.format !== 'text' && ctx.format !== 'json') throw new ClientFailure(`service watch prints text or json, not ${ctx.format}`);
  const target: WatchTarget = args.name !== undefined ? { name: args.name } : { prefix: args.prefix ?? '' };
  const stop = new AbortController();
  const onInterrupt = (): void => stop.abort();
  io.signal.addEventListener('abort', onInterrupt, { once: true });
  if (io.signal.aborted) stop.abort();
  let timedOut = false;
  const timer =
    args.once && args.waitSecs !== undefined
      ? setTimeout(() => {
          timedOut = true;
          stop.abort();
        }, args.waitSecs * 1000)
      : undefined;
  let reconnecting = false;
  const opts = {
    afterRevision: args.revision,
    signal: stop.signal,
    onRetry: (reason: unknown, next: { afterRevision: number | undefined }) => {
      if (reconnecting) return; // once per outage
      reconnecting = true;
      const why = reason === undefined ? 'the broker ended the watch' : ((reason as { details?: string }).details || (reason as Error).message || String(reason)).split('\n')[0];
      io.warn(`Warning: lost the watch on bpbroker at ${ctx.bpbroker} (${why}); resuming after revision ${next.afterRevision}`);
    },
  };
  /** Prints a batch; true when --once is satisfied. */
  const print = (events: PrintedEvent[]): boolean => {
    reconnecting = false;
    for (const e of events) io.out(eventLine(e, ctx));
    return args.once === true && events.length > 0;
  };
  try {
    await withBroker(ctx, {
      legacy: async (c) => {
        for await (const batch of c.watch(target, opts)) if (print(batch.events.map(fromLegacy))) return;
      },
      grpc: async (c) => {
        for await (const batch of c.watch(target, opts)) if (print(batch.events.map(fromGrpc))) return;
      },
    });
  } finally {
    clearTimeout(timer);
    io.signal.removeEventListener('abort', onInterrupt);
  }
  if (timedOut) throw new ClientFailure(`No change within ${args.waitSecs} seconds`);
}

/** `TYPE NAME DATA` (DATA as `service get` prints it; none for delete and expire), or one JSON object. */
export function eventLine(e: PrintedEvent, ctx: Pick<ClientContext, 'format' | 'cols'>): string {
  const cols = ctx.cols && ctx.cols.length > 0 ? ctx.cols : undefined;
  if (ctx.format === 'json') {
    const members: [string, PyJson][] = [
      ['type', { t: 'str', v: e.type }],
      ['name', { t: 'str', v: e.name }],
      ['revision', { t: 'num', lexeme: String(e.revision) }],
    ];
    if (e.data) members.push(['data', cols ? pick(e.data, cols) : e.data]);
    return `${pyDumps({ t: 'obj', members })}\n`;
  }
  const head = `${e.type} ${e.name}`;
  return e.data ? `${head} ${formatRecord(e.data, 'text', cols)}` : `${head}\n`;
}

function fromLegacy(e: LegacyWatchEvent): PrintedEvent {
  return { type: e.type, name: e.name, revision: e.revision, data: e.data === undefined ? undefined : parsePyJson(e.data) };
}

function fromGrpc(e: WatchEvent): PrintedEvent {
  return { type: TYPE_NAMES[e.type] ?? 'unknown', name: e.name, revision: e.revision, data: e.entry ? parsePyJson(entryJson(e.entry)) : undefined };
}
