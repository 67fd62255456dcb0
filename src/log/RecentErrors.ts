import { errorReplacer, type Logger } from './Logger.js';

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
 * The last warnings and errors the broker logged, for the dashboard: a logger that passes every line on
 * and keeps a copy of those two levels, the newest `capacity` of them. The log never holds keys, so neither
 * does this.
 */
export class RecentErrors {
  private readonly items: LoggedProblem[] = [];

  constructor(private readonly capacity = 50) {}

  /** The same logger, remembering what it writes at warn and error. */
  wrap(log: Logger): Logger {
    const keep = (level: LoggedProblem['level'], message: string, fields?: Record<string, unknown>): void => {
      const json = fields && Object.keys(fields).length > 0 ? JSON.stringify(fields, errorReplacer) : '';
      this.items.push({ time: new Date().toISOString(), level, message, detail: json.length > DETAIL_CHARS ? `${json.slice(0, DETAIL_CHARS)}…` : json });
      if (this.items.length > this.capacity) this.items.shift();
    };
    return {
      debug: (m, f) => log.debug(m, f),
      info: (m, f) => log.info(m, f),
      warn: (m, f) => {
        keep('warn', m, f);
        log.warn(m, f);
      },
      error: (m, f) => {
        keep('error', m, f);
        log.error(m, f);
      },
    };
  }

  /** Newest first. */
  list(): LoggedProblem[] {
    return this.items.slice().reverse();
  }
}
