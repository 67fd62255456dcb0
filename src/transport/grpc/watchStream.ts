import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { WatchRequest, WatchResponse } from '../../../generated/bpbroker/v1/registry.js';
import type { Broker } from '../../core/Broker.js';
import type { Logger } from '../../log/Logger.js';
import type { RequestLog } from '../../log/RequestLog.js';
import type { RequestRow } from '../../metrics/RequestStats.js';
import type { StoreWatch } from '../../core/Store.js';
import { callContext } from './callContext.js';
import { STATUS_NAMES, toServiceError } from './grpcStatus.js';
import { toEventMessage } from './messages.js';

/** A watch with nothing to send says so this often (a progress notification), so a client can resume exactly. */
export const PROGRESS_MS = 10_000;

/**
 * RegistryService/Watch: the first message at once (the changes already after the start revision, or a
 * progress notification naming it), then a message per batch of changes, and a progress notification when
 * nothing changed for PROGRESS_MS. The watcher reads from the history only when the last message has been
 * taken by the connection, so a client that reads slowly holds one message in the broker, not a backlog.
 */
export function watchStream(broker: Broker, log: Logger, requests: RequestLog, row?: RequestRow): grpc.handleServerStreamingCall<WatchRequest, WatchResponse> {
  return (call) => {
    const started = performance.now();
    const ctx = callContext(call);
    /**
     * A watch is counted and logged once, when it ends: refused, failed, or ended by its client (CANCELLED,
     * its normal end, so not a failure).
     */
    const count = (code: number | undefined, details?: string): void => {
      const ms = performance.now() - started;
      const status = STATUS_NAMES[code ?? 0] ?? 'UNKNOWN';
      row?.record(status, ms / 1000);
      const failed = code !== grpc.status.OK && code !== grpc.status.CANCELLED;
      if (requests.wants(failed)) requests.write(failed, { protocol: 'grpc', namespace: 'services', method: 'Watch', status, caller: ctx.clientIp, durationMs: ms, reason: details });
    };
    let watcher: StoreWatch;
    try {
      const { name, prefix, afterRevision } = call.request;
      watcher = broker.watch(ctx, { name, prefix, after: afterRevision });
    } catch (err) {
      const status = toServiceError(err, log, 'RegistryService/Watch');
      call.emit('error', status);
      count(status.code, status.details);
      return;
    }
    let done = false;
    let failed: Partial<grpc.StatusObject> | undefined;
    const stop = (): void => {
      if (done) return;
      done = true;
      watcher.close();
      count(failed?.code ?? grpc.status.CANCELLED, failed?.details);
    };
    call.once('cancelled', stop);
    call.once('close', stop);
    void (async () => {
      try {
        for (let first = true; !done; first = false) {
          const batch = await watcher.next(first ? 0 : PROGRESS_MS);
          if (done) break;
          if (!call.write({ events: batch.events.map(toEventMessage), revision: batch.revision })) {
            await Promise.race([once(call, 'drain'), once(call, 'close')]);
          }
        }
      } catch (err) {
        if (!done) {
          failed = toServiceError(err, log, 'RegistryService/Watch');
          call.emit('error', failed);
        }
      } finally {
        stop();
      }
    })();
  };
}
