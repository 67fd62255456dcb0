import { readFileSync } from 'node:fs';

/**
 * What a lock file says about its holder. A pid alone does not identify a process: after a crash and a reboot
 * the pid in a leftover lock may belong to any program. With /proc, the pid's start time (in clock ticks since
 * boot) and the boot id name one process for good.
 */
export interface LockRecord {
  pid: number;
  /** Field 22 of /proc/PID/stat; absent where there is no /proc. */
  start?: string | undefined;
  /** /proc/sys/kernel/random/boot_id when the lock was taken. */
  boot?: string | undefined;
  token?: string | undefined;
  purpose?: string | undefined;
}

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

const BOOT_ID = readProc('/proc/sys/kernel/random/boot_id')?.trim() || undefined;

/** The start time of process `pid` from /proc, or undefined (no /proc, no such process, not visible to us). */
export function startTimeOf(pid: number): string | undefined {
  const stat = readProc(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // `pid (comm) state ...`: comm may hold spaces and parentheses, so count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] || undefined; // field 22; fields[0] is field 3
}

/** Tokens of the locks this process holds now (lockFile adds and removes them). */
export const heldTokens = new Set<string>();

/** This process, as its lock records it. */
export function thisProcess(): LockRecord {
  return { pid: process.pid, start: startTimeOf(process.pid), boot: BOOT_ID };
}

/** A lock file's record: ours is one line of JSON; older brokers wrote the pid alone. Undefined: garbage. */
export function parseLockRecord(text: string): LockRecord | undefined {
  const t = text.trim();
  let rec: unknown;
  if (/^\d+$/.test(t)) rec = { pid: Number(t) };
  else {
    try {
      rec = JSON.parse(t);
    } catch {
      return undefined;
    }
  }
  if (typeof rec !== 'object' || rec === null) return undefined;
  const r = rec as Record<string, unknown>;
  if (!Number.isSafeInteger(r.pid) || (r.pid as number) <= 0) return undefined;
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  return { pid: r.pid as number, start: str(r.start), boot: str(r.boot), token: str(r.token), purpose: str(r.purpose) };
}

/**
 * Whether the process that wrote the record still runs. With /proc: same boot, same pid, same start time (a
 * record of an older broker, without a start time, counts only when its pid runs bpbroker). Without /proc, or
 * where it hides other users' processes: whether the pid exists at all, which errs on the safe side.
 */
export function isLive(rec: LockRecord): boolean {
  if (rec.boot !== undefined && BOOT_ID !== undefined && rec.boot !== BOOT_ID) return false;
  // Naming this very process: live while we hold it; else it was written before a reboot that gave us its pid.
  if (rec.pid === process.pid) return rec.token !== undefined && heldTokens.has(rec.token);
  const start = startTimeOf(rec.pid);
  if (start === undefined) return pidExists(rec.pid);
  if (rec.start !== undefined) return start === rec.start;
  const cmdline = readProc(`/proc/${rec.pid}/cmdline`);
  return cmdline === undefined || runsBpbroker(cmdline);
}

/** `node /usr/lib/node_modules/bpbroker/bin/bpbroker.js start`, `bpbroker start`: a program named bpbroker. */
function runsBpbroker(cmdline: string): boolean {
  return cmdline.split('\0').some((arg) => /(^|[\\/])bpbroker(\.[cm]?js)?$/.test(arg));
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
