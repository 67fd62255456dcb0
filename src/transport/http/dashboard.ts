import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { Broker } from '../../core/Broker.js';
import type { CallContext } from '../../core/types.js';
import { normalizeIp } from '../../core/values.js';
import type { ExtensionInfo } from '../../extensions/ExtensionHost.js';
import type { LoggedProblem } from '../../log/RecentErrors.js';
import type { BrokerOverview } from '../../core/overview.js';
import type { Logger } from '../../log/Logger.js';
import { adminRefusal, bearerToken } from './adminAccess.js';
import { legacyErrorReply } from './legacyErrors.js';

export interface DashboardOptions {
  broker: Broker;
  /** `api.admin_key`: as for /_metrics (adminAccess.ts). */
  adminKey: string;
  overview: () => BrokerOverview;
  extensions: () => ExtensionInfo[];
  recentErrors: () => LoggedProblem[];
  log: Logger;
}

/** The package's folder: this module runs from dist/src (the CLIs) or from src (tests), so it is looked for. */
const PACKAGE_ROOT = ((): string => {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error('bpbroker: package.json not found above the dashboard module');
  }
})();
/** The page, its style and its script, built by `npm run build` into dist/ui (scripts/build-ui.mjs). */
export const DASHBOARD_DIR = join(PACKAGE_ROOT, 'dist', 'ui');
const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const PAGE_SIZE = 50;

/**
 * `GET /_ui/`: the operators' dashboard, static files, and its JSON under `/_ui/api/`: `status` (the broker,
 * its extensions and its last warnings and errors) and `entries` (a page of the registry). Everything under
 * `/_ui/` follows the rule of /_metrics (api.admin_key, loopback only while it is empty); the page and its files
 * hold no data, so with a key set they are served to anyone (the page asks for the key), the JSON only with it.
 * Entries are read through the core's List, as an API call; an entry's data is sent as its stored text.
 */
export function dashboardRouter(opts: DashboardOptions): Router {
  const router = Router({ caseSensitive: true, strict: true });
  router.get('/_ui', (_req, res) => res.redirect(301, '/_ui/'));
  router.use('/_ui/', (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    res.set({
      'Cache-Control': 'no-store',
      'Content-Security-Policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    });
    const refusal = adminRefusal(req, opts.adminKey, 'The dashboard');
    const isApi = req.path.startsWith('/api/');
    if (refusal && (isApi || opts.adminKey === '')) {
      if (refusal.status === 401) res.set('WWW-Authenticate', 'Bearer realm="bpbroker dashboard"');
      res.status(refusal.status).json({ status: 'refused', message: refusal.message });
      return;
    }
    next();
  });
  router.get('/_ui/api/status', (_req, res) => {
    const { broker } = opts;
    const overview = opts.overview();
    res.json({
      version: VERSION,
      ...overview,
      uptimeSecs: Math.round((Date.now() - Date.parse(overview.startedAt)) / 1000),
      entries: broker.registry.size,
      revision: broker.registry.revision,
      registryBytes: broker.registry.budget?.totalBytes,
      notReady: broker.notReady(),
      extensions: opts.extensions(),
      recentErrors: opts.recentErrors(),
    });
  });
  router.get('/_ui/api/entries', (req, res) => {
    const q = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
    const limit = Number(q.get('limit') ?? PAGE_SIZE);
    opts.broker.list(callContext(req, opts.adminKey), q.get('prefix') ?? '', q.get('after') ?? '', Number.isSafeInteger(limit) ? limit : PAGE_SIZE).then(
      (page) => {
        res.json({
          revision: opts.broker.registry.revision,
          nextAfter: page.nextAfter,
          entries: page.entries.map(({ entry, ttl }) => ({
            name: entry.name,
            // The stored text: numbers keep their digits, members their order (README, "Exactness").
            data: entry.json,
            createRevision: entry.createRevision,
            modRevision: entry.modRevision,
            lastWriteIp: entry.lastWriteIp,
            lastWriteTs: entry.lastWriteTs,
            ...(ttl !== undefined ? { ttl } : {}),
          })),
        });
      },
      (err: unknown) => {
        const reply = legacyErrorReply(err, opts.log);
        res.status(reply.status).json({ status: 'error', message: reply.message });
      },
    );
  });
  router.use('/_ui/', express.static(DASHBOARD_DIR, { index: 'index.html', redirect: false, dotfiles: 'ignore', fallthrough: true, etag: false, lastModified: false }));
  return router;
}

/**
 * The dashboard calls the core as the API does. With the admin key proven, the caller is trusted (an operator
 * sees the whole registry); while the key is empty (loopback clients), the bearer token, if any, is the access
 * key of `services`, checked as for any API call.
 */
function callContext(req: Request, adminKey: string): CallContext {
  return { clientIp: normalizeIp(req.socket.remoteAddress), accessKey: bearerToken(req), trusted: adminKey !== '' };
}
