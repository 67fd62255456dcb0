/**
 * `bpclient service keepalive`: renew an entry's lease once, or every --every seconds until interrupted or until
 * the lease is lost (then a ClientFailure: `Fatal error: Lease on NAME lost: ...`, exit 1).
 */
import { ClientFailure, entryAnswer, entryText, withBroker, type ClientContext } from './bpclient.js';
import type { LeaseKeeper, LeaseLoss } from './leaseKeeper.js';

export interface KeepaliveArgs {
  name?: string | undefined;
  /** Renew this often, in seconds, until interrupted; without it, renew once. */
  everySecs?: number | undefined;
  raw?: boolean | undefined;
}

export interface KeepaliveIo {
  /** Stops renewing and ends cleanly (SIGINT, SIGTERM). */
  signal: AbortSignal;
  out(text: string): void;
}

/** Prints the renewed entry (as `service get` does) once, after the first renewal. */
export async function keepaliveCommand(ctx: ClientContext, args: KeepaliveArgs, io: KeepaliveIo): Promise<void> {
  const name = args.name ?? '';
  if (args.everySecs === undefined) {
    const body = await withBroker(ctx, {
      legacy: async (c) => (await c.keepAlive(name)).response.body,
      grpc: async (c) => entryAnswer(await c.keepAlive(name)),
    });
    io.out(entryText(ctx, body, args.raw));
    return;
  }
  const everyMs = args.everySecs * 1000;
  const loss = await withBroker(ctx, {
    legacy: (c) => keep(c.keepLease(name, { everyMs }), (r) => r.response.body),
    grpc: (c) => keep(c.keepLease(name, { everyMs }), entryAnswer),
  });
  if (loss) throw new ClientFailure(loss.message);

  /** Runs a keeper until the lease is lost (resolves to the loss) or the command is interrupted (undefined). */
  async function keep<T>(keeper: LeaseKeeper<T>, bodyOf: (answer: T) => string): Promise<LeaseLoss | undefined> {
    const interrupted = new Promise<undefined>((resolve) => {
      if (io.signal.aborted) resolve(undefined);
      io.signal.addEventListener('abort', () => resolve(undefined), { once: true });
    });
    try {
      const first = await Promise.race([keeper.ready, interrupted]);
      if (first === undefined) return undefined;
      if (everyMs >= keeper.ttl * 1000) {
        throw new ClientFailure(`--every ${args.everySecs} is not shorter than the lease's TTL (${keeper.ttl} seconds): the lease would run out between renewals`);
      }
      io.out(entryText(ctx, bodyOf(first), args.raw));
      return await Promise.race([keeper.lost, interrupted]);
    } finally {
      keeper.stop();
    }
  }
}
