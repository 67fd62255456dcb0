/**
 * The legacy API's Watch long-poll (`/services/Watch/?name=N|prefix=P&revision=R&wait=S`): reading one answer,
 * and a BatchSource of successive polls for ResumingWatch.
 */
import { compactJson, member, parsePyJson, type PyJson } from './pyJson.js';
import type { BatchSource } from './resumingWatch.js';

export type LegacyWatchEventType = 'put' | 'delete' | 'expire';

/** One change, as the legacy API reports it. */
export interface LegacyWatchEvent {
  type: LegacyWatchEventType;
  name: string;
  revision: number;
  /** A put's entry as JSON text, as Get shows it (its data plus last_write_ip and last_write_ts); numbers exact. */
  data?: string;
}

/** One long-poll's answer. */
export interface LegacyWatchBatch {
  events: LegacyWatchEvent[];
  /** Every matching change through this revision has been delivered: the next poll continues from it. */
  revision: number;
  /** True when the poll ended without a change. */
  progress: boolean;
}

/** Reads a Watch answer; undefined when the body is not one. */
export function parseWatchAnswer(body: string): LegacyWatchBatch | undefined {
  let tree: PyJson;
  try {
    tree = parsePyJson(body);
  } catch {
    return undefined;
  }
  const revision = wholeNumber(member(tree, 'revision'));
  const list = member(tree, 'events');
  if (member(tree, 'success')?.t !== 'bool' || revision === undefined || list?.t !== 'arr') return undefined;
  const events: LegacyWatchEvent[] = [];
  for (const item of list.items) {
    const type = member(item, 'type');
    const name = member(item, 'name');
    const rev = wholeNumber(member(item, 'revision'));
    if (type?.t !== 'str' || !isEventType(type.v) || name?.t !== 'str' || rev === undefined) return undefined;
    const data = member(item, 'data');
    events.push({ type: type.v, name: name.v, revision: rev, ...(data ? { data: compactJson(data) } : {}) });
  }
  return { events, revision, progress: events.length === 0 };
}

function isEventType(t: string): t is LegacyWatchEventType {
  return t === 'put' || t === 'delete' || t === 'expire';
}

function wholeNumber(node: PyJson | undefined): number | undefined {
  if (node?.t !== 'num' || !/^\d+$/.test(node.lexeme)) return undefined;
  const n = Number(node.lexeme);
  return Number.isSafeInteger(n) ? n : undefined;
}

export type PollWatch = (revision: number | undefined, waitSecs: number, signal: AbortSignal) => Promise<LegacyWatchBatch>;

/**
 * Successive long-polls, each from the revision the previous one answered. The first answers at once (wait 0),
 * as a gRPC watch's first message does: it tells the revision the watch starts from, so a reconnect right after
 * it resumes exactly.
 */
export function legacyWatchSource(poll: PollWatch, afterRevision: number | undefined, pollSecs: number): BatchSource<LegacyWatchBatch> {
  const controller = new AbortController();
  let revision = afterRevision;
  let first = true;
  return {
    async next() {
      const batch = await poll(revision, first ? 0 : pollSecs, controller.signal);
      first = false;
      revision = batch.revision;
      return batch;
    },
    close() {
      controller.abort();
    },
  };
}
