import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { WatchRequest, WatchResponse } from '../../../generated/bpbroker/v1/registry.js';
import type { Broker } from '../../core/Broker.js';
import type { Logger } from '../../log/Logger.js';
import type { RequestRow } from '../../metrics/RequestStats.js';
import type { Watcher } from '../../registry/Watchers.js';
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
export function watchStream(broker: Broker, log: Logger, row?: RequestRow): grpc.handleServerStreamingCall<WatchRequest, WatchResponse> {
  return (call) => {
    const started = performance.now();
    /** A watch is counted once, when it ends: refused, failed, or ended by its client (CANCELLED). */
    const count = (code: number | undefined): void => row?.record(STATUS_NAMES[code ?? 0] ?? 'UNKNOWN', (performance.now() - started) / 1000);
    let watcher: Watcher;
    try {
      const { name, prefix, afterRevision } = call.request;
      watcher = broker.watch(callContext(call), { name, prefix, after: afterRevision });
    } catch (err) {
      const status = toServiceError(err, log, 'RegistryService/Watch');
      call.emit('error', status);
      count(status.code);
      return;
    }
    let done = false;
    let failed: number | undefined;
    const stop = (): void => {
      if (done) return;
      done = true;
      watcher.close();
      count(failed ?? grpc.status.CANCELLED);
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
          const status = toServiceError(err, log, 'RegistryService/Watch');
          failed = status.code;
          call.emit('error', status);
        }
      } finally {
        stop();
      }
    })();
  };
}
