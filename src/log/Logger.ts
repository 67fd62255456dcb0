import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger as Pino, type StreamEntry } from 'pino';
import type PinoPretty from 'pino-pretty';

/** Structured logging through pino: one JSON object a line on stderr (pretty-printed at a terminal). */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** The same log, with these fields on every line (a connection's or a call's). */
  child(bindings: LogFields): Logger;
  /** Whether a line at this level is written: ask before building fields that cost something. */
  isLevelEnabled(level: Exclude<LogLevel, 'silent'>): boolean;
}

export const REDACTED = '[redacted]';

/**
 * Fields that may hold an access key or the admin key, at the top of a line's fields or one or two levels down
 * (a request's parameters or headers; a configuration section, or the whole configuration). Call sites never
 * log query strings or configuration text; this is the net under them.
 */
const SECRET_KEYS = ['access_key', 'accessKey', '_access_key', 'admin_key', 'adminKey', 'key', 'authorization', 'password', 'etcd_password'];
export const REDACT_PATHS: readonly string[] = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

export interface LoggerOptions {
  /** Where lines go; default stderr (pretty-printed when it is a terminal). */
  destination?: DestinationStream | undefined;
  /** Also receives every line at warn and above, whatever the level (the dashboard's recent errors). */
  problems?: DestinationStream | undefined;
}

/**
 * A logger at `level`. `write`, when given, receives each JSON line instead of stderr (tests, embedding).
 * Lines are written synchronously: nothing is lost when the process ends or crashes right after.
 */
export function createLogger(level: LogLevel = 'info', write?: (line: string) => void, opts: LoggerOptions = {}): Logger {
  const out = write ? { write } : (opts.destination ?? stderrDestination());
  const streams: StreamEntry[] = [];
  if (level !== 'silent') streams.push({ level, stream: out });
  if (opts.problems) streams.push({ level: 'warn', stream: opts.problems });
  // The problems stream hears warnings even below the chosen level, so pino's own level is the lower of the two.
  const effective: LogLevel = opts.problems && (level === 'silent' || level === 'error') ? 'warn' : level;
  const p = pino(
    {
      level: effective,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...REDACT_PATHS], censor: REDACTED },
    },
    streams.length === 1 && !opts.problems ? out : pino.multistream(streams),
  );
  return new PinoLogger(p, level);
}

function stderrDestination(): DestinationStream {
  if (!process.stderr.isTTY) return pino.destination({ dest: 2, sync: true });
  // Loaded only for a terminal: a service never pays for it (startup, memory).
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  return pretty({ destination: 2, sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid' });
}

const ORDER = { debug: 20, info: 30, warn: 40, error: 50, silent: Number.POSITIVE_INFINITY } as const;

class PinoLogger implements Logger {
  constructor(
    private readonly p: Pino,
    /** The level chosen for the log itself (pino's may be lower, for the problems stream). */
    private readonly level: LogLevel,
  ) {}

  debug(msg: string, fields?: LogFields): void {
    if (this.p.isLevelEnabled('debug')) this.p.debug(plain(fields), msg);
  }
  info(msg: string, fields?: LogFields): void {
    if (this.p.isLevelEnabled('info')) this.p.info(plain(fields), msg);
  }
  warn(msg: string, fields?: LogFields): void {
    if (this.p.isLevelEnabled('warn')) this.p.warn(plain(fields), msg);
  }
  error(msg: string, fields?: LogFields): void {
    if (this.p.isLevelEnabled('error')) this.p.error(plain(fields), msg);
  }
  child(bindings: LogFields): Logger {
    return new PinoLogger(this.p.child(plain(bindings)), this.level);
  }
  isLevelEnabled(level: Exclude<LogLevel, 'silent'>): boolean {
    return ORDER[level] >= ORDER[this.level];
  }
}

/** Nothing is written, nothing is built. */
export const silentLogger: Logger = createLogger('silent');

/** Errors at the top of the fields become {type, message, stack}, as pino's own serializer does for `err`. */
function plain(fields: LogFields | undefined): LogFields {
  if (fields === undefined) return {};
  let copy: LogFields | undefined;
  for (const k in fields) {
    const v = fields[k];
    if (v instanceof Error && k !== 'err') {
      copy ??= { ...fields };
      copy[k] = pino.stdSerializers.err(v);
    }
  }
  return copy ?? fields;
}
