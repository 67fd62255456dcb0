import { isIP } from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import type { CallContext } from '../../core/types.js';
import { normalizeIp } from '../../core/values.js';

/** Metadata key carrying the namespace's access key (the legacy API's `access_key` parameter). */
export const ACCESS_KEY_METADATA = 'access-key';

/**
 * The client's address from grpc-js's peer text. Server calls report `address:port` (`127.0.0.1:5000`,
 * `::ffff:127.0.0.1:5000`, `::1:5000`); URI-style `ipv4:`/`ipv6:[...]:port` forms are accepted too.
 * The port is stripped first: `::1:5000` is also a valid IPv6 address on its own.
 */
export function peerIp(peer: string): string {
  let p = peer.replace(/^ipv[46]:/, '');
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(p);
  if (bracketed) p = bracketed[1]!;
  else {
    const withPort = /^(.*):(\d+)$/.exec(p);
    if (withPort && isIP(withPort[1]!)) p = withPort[1]!;
  }
  return isIP(p) ? normalizeIp(p) : '';
}

/** Who is calling, as core wants it. */
export function callContext(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>): CallContext {
  const key = call.metadata.get(ACCESS_KEY_METADATA)[0];
  return { clientIp: peerIp(call.getPeer()), accessKey: typeof key === 'string' ? key : undefined };
}
