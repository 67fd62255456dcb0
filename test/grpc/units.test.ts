import { describe, expect, it } from 'vitest';
import { BrokerError, type BrokerErrorCode } from '../../src/core/BrokerError.js';
import { peerIp } from '../../src/transport/grpc/callContext.js';
import { GRPC_STATUS } from '../../src/transport/grpc/grpcStatus.js';
import { decodePageToken, encodePageToken } from '../../src/transport/grpc/messages.js';
import * as grpc from '@grpc/grpc-js';


describe('peerIp', () => {
  it.each([
    ['127.0.0.1:5000', '127.0.0.1'],
    ['::ffff:127.0.0.1:5000', '127.0.0.1'],
    ['::1:5000', '::1'],
    ['2001:db8::5:443', '2001:db8::5'],
    ['ipv4:10.0.0.5:1234', '10.0.0.5'],
    ['ipv6:[::ffff:127.0.0.1]:123', '127.0.0.1'],
    ['ipv6:[::1]:123', '::1'],
    ['[fe80::1]:9', 'fe80::1'],
    ['::1', '::1'],
    ['unknown', ''],
  ])('%s -> %s', (peer, ip) => expect(peerIp(peer)).toBe(ip));
});

describe('page tokens', () => {
  it('round-trip and belong to their prefix', () => {
    expect(encodePageToken('')).toBe('');
    expect(decodePageToken(encodePageToken('svc/é-1'), 'svc/')).toBe('svc/é-1');
    expect(() => decodePageToken(encodePageToken('svc/1'), 'other')).toThrow(BrokerError);
    expect(() => decodePageToken('not base64!', '')).toThrow(BrokerError);
  });
});

describe('status mapping', () => {
  it('maps every broker code to the gRPC status of the same name', () => {
    for (const [code, status] of Object.entries(GRPC_STATUS)) expect(grpc.status[status]).toBe(code as BrokerErrorCode);
  });
});
