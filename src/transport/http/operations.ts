import { isIP } from 'node:net';
import { Router, type NextFunction, type Request, type Response } from 'express';
import { accessKeyMatches } from '../../core/accessKey.js';
import { normalizeIp } from '../../core/values.js';
import type { Logger } from '../../log/Logger.js';
import type { BrokerMetrics } from '../../metrics/BrokerMetrics.js';

export interface OperationsOptions {
  metrics: BrokerMetrics;
  /** Why the broker cannot take writes now; empty when it can. */
  notReady: () => string[];
  /** `api.admin_key`: empty means only loopback clients may read the metrics. */
  adminKey: string;
  log: Logger;
}

/** Paths the operations surface serves; every other path, `/_` ones included, is a legacy call. */
export const OPERATIONS_PATHS = ['/_health', '/_ready', '/_metrics'] as const;

/**
 * The operations surface, for load balancers, orchestrators and Prometheus: `GET /_health` (liveness),
 * `GET /_ready` (can take writes) and `GET /_metrics` (Prometheus text, behind `api.admin_key`). A namespace
 * never starts with `_`, so these paths never hide a callable one.
 */
export function operationsRouter(opts: OperationsOptions): Router {
  const router = Router({ caseSensitive: true, strict: true });
  router.use(OPERATIONS_PATHS as unknown as string[], (_req: Request, res: Response, next: NextFunction) => {
    res.set('Cache-Control', 'no-store');
    next();
  });
  router.get('/_health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/_ready', (_req, res) => {
    const reasons = opts.notReady();
    if (reasons.length === 0) res.json({ status: 'ready' });
    else res.status(503).json({ status: 'not ready', reasons });
  });
  router.get('/_metrics', (req, res) => {
    const refusal = metricsRefusal(req, opts.adminKey);
    if (refusal) {
      if (refusal.status === 401) res.set('WWW-Authenticate', 'Bearer realm="bpbroker metrics"');
      res.status(refusal.status).json({ status: 'refused', message: refusal.message });
      return;
    }
    opts.metrics.text().then(
      (text) => {
        res.set('Content-Type', opts.metrics.contentType).send(text);
      },
      (err: unknown) => {
        opts.log.error('metrics could not be collected', { err });
        res.status(500).json({ status: 'error', message: 'Metrics could not be collected' });
      },
    );
  });
  return router;
}

/** Why this client may not read the metrics, or undefined when it may. The key itself is never echoed or logged. */
function metricsRefusal(req: Request, adminKey: string): { status: number; message: string } | undefined {
  if (adminKey === '') {
    if (isLoopback(req.socket.remoteAddress)) return undefined;
    return { status: 403, message: 'Metrics are served only to loopback clients while api.admin_key is empty; set api.admin_key and send it as "Authorization: Bearer KEY"' };
  }
  const m = /^Bearer +(.+)$/i.exec(req.get('authorization') ?? '');
  if (!m) return { status: 401, message: 'Admin key required: send "Authorization: Bearer KEY" with the key in api.admin_key' };
  if (!accessKeyMatches(adminKey, m[1]!.trim())) return { status: 403, message: 'Incorrect admin key' };
  return undefined;
}

function isLoopback(address: string | undefined): boolean {
  const ip = normalizeIp(address);
  return isIP(ip) === 4 ? ip.startsWith('127.') : ip === '::1';
}
