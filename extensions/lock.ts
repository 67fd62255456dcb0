// Named locks on the registry: compare-and-swap decides who holds a lock, a lease frees it when its holder stops
// renewing (a crashed node cannot keep it), and a watch wakes a waiter the moment it is released.
//   bpclient execute --method lock.Acquire --data build --param owner=$(hostname) --param ttl=30 --param wait=20
//   bpclient execute --method lock.Renew   --data build --param owner=$(hostname)   # before ttl runs out
//   bpclient execute --method lock.Release --data build --param owner=$(hostname)
//   bpclient execute --method lock.Holder  --data build
// The holder gets 200 {"name","owner","revision","ttl"}; anyone else 409 `Lock build is held by OWNER` (bpclient:
// exit 1). `owner` defaults to the caller's address; `wait` (seconds, default 0) is bounded by the call's time limit.
import type { RegistryEntry, RegistryError, RequestHandler } from 'bpbroker/extension';

const DEFAULT_TTL_SECS = 30;

interface Held {
  name: string;
  owner: string;
  /** The lock entry's revision: it changes with every renewal. */
  revision: number;
  /** Seconds left on its lease. */
  ttl: number | undefined;
}

export async function Acquire(rh: RequestHandler): Promise<Held | undefined> {
  const lock = _target(rh);
  const ttl = rh.qs.ttl === undefined ? DEFAULT_TTL_SECS : Number(rh.qs.ttl);
  const waitSecs = Number(rh.qs.wait ?? 0);
  if (!lock) return;
  if (!(waitSecs >= 0)) return _fail(rh, 400, 'Invalid wait');
  const until = Date.now() + waitSecs * 1000;
  try {
    for (;;) {
      try {
        // Revision 0: only if nobody holds it. The lease ends the lock if its holder goes away.
        await rh.registry.register(lock.key, { owner: lock.owner }, { ttl, ifRevision: 0 });
        const mine = await rh.registry.entry(lock.key);
        if (mine?.data.owner === lock.owner) return _held(lock.name, mine);
        continue; // it lapsed and was taken in the same instant: try again
      } catch (err) {
        if (!_isConflict(err)) throw err;
      }
      const held = await rh.registry.entry(lock.key);
      if (!held) continue; // released since: try again
      if (held.data.owner === lock.owner) {
        // Its holder asking again (a retry): it keeps the lock, renewed.
        const kept = await rh.registry.keepAlive(lock.key);
        if (kept?.data.owner === lock.owner) return _held(lock.name, kept);
        continue;
      }
      const left = until - Date.now();
      // Any change (a release, an expiry, a renewal) wakes the watch; no change before the wait ends: give up.
      const changed = left > 0 && (await rh.registry.watch({ name: lock.key }, { afterRevision: held.revision, waitSecs: left / 1000 })).events.length > 0;
      if (!changed) return _fail(rh, 409, `Lock ${lock.name} is held by ${String(held.data.owner)}`);
    }
  } catch (err) {
    if ((err as RegistryError).code === 'INVALID_ARGUMENT') return _fail(rh, 400, (err as Error).message);
    throw err;
  }
}

export async function Renew(rh: RequestHandler): Promise<Held | undefined> {
  const lock = _target(rh);
  if (!lock) return;
  const held = await rh.registry.entry(lock.key);
  if (held?.data.owner !== lock.owner) return _notYours(rh, lock.name, held);
  // KeepAlive is not a compare-and-swap: the answer says whose lease it renewed.
  const kept = await rh.registry.keepAlive(lock.key);
  if (kept?.data.owner !== lock.owner) return _notYours(rh, lock.name, kept);
  return _held(lock.name, kept);
}

export async function Release(rh: RequestHandler): Promise<{ name: string; released: true } | undefined> {
  const lock = _target(rh);
  if (!lock) return;
  for (;;) {
    const held = await rh.registry.entry(lock.key);
    if (held?.data.owner !== lock.owner) return _notYours(rh, lock.name, held);
    try {
      // Deleted only as it was read: never a lock that lapsed and was taken by someone else meanwhile.
      await rh.registry.delete(lock.key, { ifRevision: held.revision });
      return { name: lock.name, released: true };
    } catch (err) {
      if (!_isConflict(err)) throw err;
    }
  }
}

export async function Holder(rh: RequestHandler): Promise<(Held & { held: true }) | { name: string; held: false } | undefined> {
  const lock = _target(rh);
  if (!lock) return;
  const held = await rh.registry.entry(lock.key);
  return held ? { ..._held(lock.name, held), held: true } : { name: lock.name, held: false };
}

function _target(rh: RequestHandler): { name: string; key: string; owner: string } | undefined {
  const name = rh.qs.data;
  if (!name) return _fail(rh, 400, 'Missing lock name (data)');
  return { name, key: `lock.${name}`, owner: rh.qs.owner || rh.requestingHost() };
}

function _held(name: string, e: RegistryEntry): Held {
  return { name, owner: String(e.data.owner), revision: e.revision, ttl: e.ttl };
}

function _notYours(rh: RequestHandler, name: string, held: RegistryEntry | undefined): undefined {
  return _fail(rh, 409, held ? `Lock ${name} is held by ${String(held.data.owner)}` : `Lock ${name} is not held`);
}

function _isConflict(err: unknown): err is RegistryError {
  return (err as RegistryError | undefined)?.code === 'FAILED_PRECONDITION';
}

function _fail(rh: RequestHandler, status: number, message: string): undefined {
  rh.status = status;
  rh.statusMessage = message;
  return undefined;
}
