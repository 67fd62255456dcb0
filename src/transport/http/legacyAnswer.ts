import type { ServerResponse } from 'node:http';
import type { Broker } from '../../core/Broker.js';
import type { CallContext, Params } from '../../core/types.js';
import type { Logger } from '../../log/Logger.js';
import { writeResult } from './legacyApi.js';
import { legacyErrorReply } from './legacyErrors.js';
import { sendFailure } from './reply.js';

/** What the legacy API sends for one call: its status line, the headers the broker sets, and the body. */
export interface LegacyAnswer {
  status: number;
  reason: string;
  /** Names in lower case; a repeated header as an array. HTTP/1.1 framing (Date, Connection) is not included. */
  headers: Record<string, string | string[]>;
  body: Buffer;
}

/**
 * One call `/{namespace}/{Method}` through core, answered by the legacy API's own writers into memory: the
 * answer a client would get, without a socket (the test kit's `invoke`).
 */
export async function legacyAnswer(broker: Broker, ctx: CallContext, namespace: string, method: string, params: Params, log: Logger): Promise<LegacyAnswer> {
  const capture = new CapturedResponse();
  const res = capture as unknown as ServerResponse;
  try {
    writeResult(res, await broker.dispatch(ctx, namespace, method, params));
  } catch (err) {
    const reply = legacyErrorReply(err, log);
    sendFailure(res, reply.status, reply.message, reply.revision);
  }
  return capture.answer();
}

/** The part of ServerResponse the legacy writers use. */
class CapturedResponse {
  headersSent = false;
  private status = 0;
  private reason = '';
  private readonly headers: Record<string, string | string[]> = {};
  private body = Buffer.alloc(0);

  writeHead(status: number, reason: string, headers: Record<string, string | number> | string[]): this {
    this.status = status;
    this.reason = reason;
    const pairs: Array<[string, string]> = [];
    if (Array.isArray(headers)) for (let i = 0; i + 1 < headers.length; i += 2) pairs.push([headers[i]!, headers[i + 1]!]);
    else for (const [k, v] of Object.entries(headers)) pairs.push([k, String(v)]);
    for (const [k, v] of pairs) this.add(k.toLowerCase(), v);
    this.headersSent = true;
    return this;
  }

  setHeader(name: string, value: string | number): this {
    this.headers[name.toLowerCase()] = String(value);
    return this;
  }

  end(chunk?: Uint8Array): this {
    if (chunk) this.body = Buffer.from(chunk);
    return this;
  }

  destroy(): this {
    return this;
  }

  answer(): LegacyAnswer {
    // The status line carries the UTF-8 bytes of the message as Latin-1 (reply.ts): read them back as a client does.
    return { status: this.status, reason: Buffer.from(this.reason, 'latin1').toString('utf8'), headers: this.headers, body: this.body };
  }

  private add(name: string, value: string): void {
    const had = this.headers[name];
    this.headers[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
}
