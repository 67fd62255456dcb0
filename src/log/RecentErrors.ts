import type { DestinationStream } from 'pino';

/** One warning or error the broker logged. */
export interface LoggedProblem {
  /** ISO time. */
  time: string;
  level: 'warn' | 'error';
  message: string;
  /** The line's fields as JSON, cut at DETAIL_CHARS. */
  detail: string;
}

const DETAIL_CHARS = 4000;

/**
 * The last warnings and errors the broker logged, for the dashboard: a second destination of the log (see
 * createLogger's `problems`) that keeps the newest `capacity` lines at warn and above. It receives the lines
 * as written, keys redacted, so it holds no more than the log does.
 */
export class RecentErrors implements DestinationStream {
  private readonly items: LoggedProblem[] = [];

  constructor(private readonly capacity = 50) {}

  write(line: string): void {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const { level, time, msg, pid: _pid, ...fields } = parsed;
    const json = Object.keys(fields).length > 0 ? JSON.stringify(fields) : '';
    this.items.push({
      time: typeof time === 'string' ? time : new Date().toISOString(),
      level: level === 'warn' ? 'warn' : 'error',
      message: typeof msg === 'string' ? msg : '',
      detail: json.length > DETAIL_CHARS ? `${json.slice(0, DETAIL_CHARS)}…` : json,
    });
    if (this.items.length > this.capacity) this.items.shift();
  }

  /** Newest first. */
  list(): LoggedProblem[] {
    return this.items.slice().reverse();
  }
}
