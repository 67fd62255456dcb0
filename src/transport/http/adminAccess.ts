import { isIP } from 'node:net';
import type { Request } from 'express';
import { accessKeyMatches } from '../../core/accessKey.js';
import { normalizeIp } from '../../core/values.js';

export interface AdminRefusal {
  status: 401 | 403;
  message: string;
}

/**
 * The rule of the guarded operations endpoints (`/_metrics`, `/_ui/`): with `api.admin_key` set, every client
 * sends it as `Authorization: Bearer KEY`; while it is empty, only loopback clients are served. Undefined when
 * this client may go on. `what` names the refused thing in the message ("Metrics", "The dashboard"). The key
 * itself is never echoed or logged.
 */
export function adminRefusal(req: Request, adminKey: string, what: string): AdminRefusal | undefined {
  if (adminKey === '') {
    if (isLoopback(req.socket.remoteAddress)) return undefined;
    return { status: 403, message: `${what} ${what.endsWith('s') ? 'are' : 'is'} served only to loopback clients while api.admin_key is empty; set api.admin_key and send it as "Authorization: Bearer KEY"` };
  }
  const token = bearerToken(req);
  if (token === undefined) return { status: 401, message: 'Admin key required: send "Authorization: Bearer KEY" with the key in api.admin_key' };
  if (!accessKeyMatches(adminKey, token)) return { status: 403, message: 'Incorrect admin key' };
  return undefined;
}

/** The token of an `Authorization: Bearer TOKEN` header, if the request has one. */
export function bearerToken(req: Request): string | undefined {
  const m = /^Bearer +(.+)$/i.exec(req.get('authorization') ?? '');
  return m ? m[1]!.trim() : undefined;
}

function isLoopback(address: string | undefined): boolean {
  const ip = normalizeIp(address);
  return isIP(ip) === 4 ? ip.startsWith('127.') : ip === '::1';
}
