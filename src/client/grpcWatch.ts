/**
 * RegistryService/Watch as a BatchSource for ResumingWatch: one stream, read one message at a time. The stream
 * is paused while a message waits for the caller, so a caller that falls behind slows the stream down (and the
 * broker cuts it off with RESOURCE_EXHAUSTED if it falls too far behind) instead of growing a backlog here.
 */
import * as grpc from '@grpc/grpc-js';
import type { WatchEvent, WatchRequest, WatchResponse } from '../../generated/bpbroker/v1/registry.js';
import type { BatchSource } from './resumingWatch.js';

/** One message of a gRPC watch. */
export interface GrpcWatchBatch {
  /** The changes, in revision order (none in a progress notification). */
  events: WatchEvent[];
  /** Every matching change through this revision has been delivered. */
  revision: number;
  /** True for a progress notification: nothing changed, the revision moved on. */
  progress: boolean;
}

/** What to watch: one entry, or every entry whose name starts with a prefix (empty: all). */
export type WatchTarget = { name: string } | { prefix: string };

/**
 * The broker sends a progress notification after 10 s without changes; a stream silent for three of those is
 * taken for a dead connection (a host that vanished sends no reset).
 */
export const GRPC_WATCH_IDLE_MS = 30_000;

/**
 * Failures that are the connection's, not an answer: the watch reconnects after them. UNAVAILABLE (no
 * connection, or it dropped), CANCELLED (the broker stopping, or dropping a stream it had to give up on), and a
 * stream reset by the peer (which grpc-js reports as INTERNAL).
 */
export function isTransientGrpcFailure(err: unknown): boolean {
  const e = err as { code?: unknown; details?: unknown } | undefined;
  if (e?.code === grpc.status.UNAVAILABLE || e?.code === grpc.status.CANCELLED) return true;
  return e?.code === grpc.status.INTERNAL && typeof e.details === 'string' && e.details.includes('RST_STREAM');
}

type OpenStream = (request: WatchRequest, metadata: grpc.Metadata) => grpc.ClientReadableStream<WatchResponse>;

export function grpcWatchSource(open: OpenStream, metadata: grpc.Metadata, target: WatchTarget, afterRevision: number | undefined): BatchSource<GrpcWatchBatch> {
  const request: WatchRequest = { ...target, ...(afterRevision !== undefined ? { afterRevision } : {}) };
  const call = open(request, metadata);
  const queue: WatchResponse[] = [];
  let failure: unknown;
  let ended = false;
  let closed = false;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  call.on('data', (message: WatchResponse) => {
    queue.push(message);
    call.pause();
    notify();
  });
  call.on('error', (err: unknown) => {
    failure = err;
    notify();
  });
  call.on('end', () => {
    ended = true;
    notify();
  });
  return {
    async next() {
      for (;;) {
        const message = queue.shift();
        if (message) {
          if (queue.length === 0 && !closed) call.resume();
          return { events: message.events, revision: message.revision, progress: message.events.length === 0 };
        }
        if (failure !== undefined) throw failure;
        if (ended || closed) return undefined;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    close() {
      if (closed) return;
      closed = true;
      call.cancel();
      notify();
    },
  };
}
