import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { AuthClient, KVClient, LeaseClient, WatchClient } from '../../../generated/etcd/etcdserverpb/rpc.js';
import { EtcdError } from './EtcdError.js';
import type { EtcdOptions } from './EtcdOptions.js';

/** The four etcd services over one channel to one member. */
export interface EtcdEndpoint {
  /** `host:port`, as errors name it. */
  readonly address: string;
  readonly kv: KVClient;
  readonly watch: WatchClient;
  readonly lease: LeaseClient;
  readonly auth: AuthClient;
}

/**
 * A dead member must not slow down recovery once it is back: grpc-js retries a failed connection with a delay
 * that grows to 2 minutes by default; a second at most keeps "etcd is back" a matter of a second.
 */
const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1_000,
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  // Notice a silently dead member (no RST, e.g. its machine lost power) on an open stream.
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
};

/** SNI name sent when dialing an IP address (Node refuses an IP as SNI); the certificate is checked against the IP. */
const IP_SNI_PLACEHOLDER = 'etcd';

/**
 * The configured members, one lazily opened channel each, and which one calls go to: the same one until it fails,
 * then the next in order (round).
 */
export class EtcdEndpoints {
  private readonly targets: { address: string; tls: boolean }[];
  private readonly open = new Map<number, EtcdEndpoint>();
  private index = 0;
  private readonly tlsFiles: { ca: Buffer | null; cert: Buffer | null; key: Buffer | null };

  constructor(opts: EtcdOptions) {
    if (opts.endpoints.length === 0) throw new EtcdError('INVALID_ARGUMENT', 'No etcd endpoint configured');
    this.targets = opts.endpoints.map(parseEndpoint);
    const read = (what: string, path: string | undefined): Buffer | null => {
      if (!path) return null;
      try {
        return readFileSync(path);
      } catch (err) {
        throw new EtcdError('INVALID_ARGUMENT', `Cannot read the etcd ${what} ${path}: ${(err as Error).message}`);
      }
    };
    this.tlsFiles = { ca: read('CA', opts.caFile), cert: read('client certificate', opts.certFile), key: read('client key', opts.keyFile) };
    if (!this.tlsFiles.cert !== !this.tlsFiles.key) throw new EtcdError('INVALID_ARGUMENT', 'The etcd client certificate and key go together: set both or neither');
  }

  get count(): number {
    return this.targets.length;
  }

  /** The member calls go to now. */
  current(): EtcdEndpoint {
    return this.at(this.index);
  }

  /** Moves on to the next member, unless another caller already moved away from `failed`. */
  failover(failed: EtcdEndpoint): void {
    if (this.open.get(this.index) === failed) this.index = (this.index + 1) % this.targets.length;
  }

  close(): void {
    for (const ep of this.open.values()) ep.kv.close(); // the four clients share the channel: closing one closes it
    this.open.clear();
  }

  private at(i: number): EtcdEndpoint {
    const have = this.open.get(i);
    if (have) return have;
    const { address, tls } = this.targets[i]!;
    const { creds, options } = tls ? this.tlsSettings(address) : { creds: grpc.credentials.createInsecure(), options: {} };
    const channel = new grpc.Channel(address, creds, { ...CHANNEL_OPTIONS, ...options });
    const shared: Partial<grpc.ClientOptions> = { channelOverride: channel };
    const insecure = grpc.credentials.createInsecure(); // ignored: the channel carries the credentials
    const ep: EtcdEndpoint = {
      address,
      kv: new KVClient(address, insecure, shared),
      watch: new WatchClient(address, insecure, shared),
      lease: new LeaseClient(address, insecure, shared),
      auth: new AuthClient(address, insecure, shared),
    };
    this.open.set(i, ep);
    return ep;
  }

  private tlsSettings(address: string): { creds: grpc.ChannelCredentials; options: grpc.ChannelOptions } {
    const host = hostOf(address);
    const byIp = isIP(host) !== 0;
    const verify = byIp ? { checkServerIdentity: (_name: string, cert: PeerCertificate) => checkServerIdentity(host, cert) } : {};
    const { ca, key, cert } = this.tlsFiles;
    return {
      creds: grpc.credentials.createSsl(ca, key, cert, verify),
      options: byIp ? { 'grpc.ssl_target_name_override': IP_SNI_PLACEHOLDER } : {},
    };
  }
}

function parseEndpoint(url: string): { address: string; tls: boolean } {
  const m = /^(https?):\/\/([^/]+?)\/?$/.exec(url.trim());
  if (!m) throw new EtcdError('INVALID_ARGUMENT', `etcd endpoint ${JSON.stringify(url)} is not http://host:port or https://host:port`);
  const tls = m[1] === 'https';
  const hostPort = m[2]!;
  return { address: /:\d+$/.test(hostPort) ? hostPort : `${hostPort}:2379`, tls };
}

/** The host of `host:port` or `[v6]:port`. */
function hostOf(address: string): string {
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(address);
  return bracketed ? bracketed[1]! : address.replace(/:\d+$/, '');
}
