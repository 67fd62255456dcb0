import { Agent, request } from 'node:https';

export interface Reply {
  status: number;
  reason: string;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body as sent. */
  bytes: Buffer;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: any;
}

const agent = new Agent({ keepAlive: true, rejectUnauthorized: false });

/** A real HTTPS request to the broker on 127.0.0.1, like `requests` or curl -k would send it. */
export function call(port: number, path: string, opts: { method?: string; body?: string | Buffer; headers?: Record<string, string>; agent?: Agent | false } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: opts.method ?? 'POST', headers: opts.headers, agent: opts.agent ?? agent, rejectUnauthorized: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          const text = bytes.toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, reason: Buffer.from(res.statusMessage ?? '', 'latin1').toString('utf8'), headers: res.headers, text, bytes, json });
        });
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Query string the way Python's requests builds it (`+` for spaces). */
export function qs(params: Record<string, string>): string {
  return new URLSearchParams(params).toString();
}
