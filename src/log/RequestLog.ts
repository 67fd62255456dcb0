import type { Logger } from './Logger.js';

/** What the log says of one API request. Never its parameters, query string or headers: they may hold keys. */
export interface RequestLine {
  protocol: 'legacy' | 'grpc' | 'udp';
  namespace: string;
  method: string;
  /** legacy: the HTTP status; gRPC: the status code name; UDP: found or not_found. */
  status: number | string;
  /** gRPC Execute: the extension's answer status (the legacy API's `status`). */
  answer?: number | undefined;
  caller: string;
  durationMs: number;
  /** Why it failed, as its client was told. */
  reason?: string | undefined;
}

/** Client-chosen names are cut to this many characters in the log. */
const MAX_NAME = 200;

/**
 * The access log of the API: each failed request at info, every request at debug. The levels are read once:
 * a transport asks `wants(failed)` before it builds a line, so a successful request costs one boolean at info.
 */
export class RequestLog {
  private readonly failures: boolean;
  private readonly all: boolean;

  constructor(private readonly log: Logger) {
    this.failures = log.isLevelEnabled('info');
    this.all = log.isLevelEnabled('debug');
  }

  wants(failed: boolean): boolean {
    return failed ? this.failures : this.all;
  }

  write(failed: boolean, line: RequestLine): void {
    const fields = { ...line, namespace: clip(line.namespace), method: clip(line.method), durationMs: Math.round(line.durationMs * 100) / 100 };
    if (failed) this.log.info('request failed', fields);
    else this.log.debug('request', fields);
  }
}

function clip(name: string): string {
  return name.length <= MAX_NAME ? name : `${name.slice(0, MAX_NAME)}…`;
}
