import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { ConfigError } from '../../config/ConfigError.js';
import { isPlainObject } from '../../config/merge.js';
import type { Sections } from '../../config/schema.js';
import type { Logger } from '../../log/Logger.js';
import type { BrokerMetrics } from '../../metrics/BrokerMetrics.js';
import { adminRefusal } from './adminAccess.js';
import { dashboardRouter, type DashboardOptions } from './dashboard.js';

export interface OperationsOptions {
  metrics: BrokerMetrics;
  /** Why the broker cannot take writes now; empty when it can. */
  notReady: () => string[];
  /** The registry's store and why it cannot be used now, for `/_health` (which answers 200 all the same). */
  registry?: (() => { backend: string; problem: string | undefined }) | undefined;
  /** `api.admin_key`: empty means only loopback clients may read the metrics. */
  adminKey: string;
  /** `POST /_config`: settings added to the running broker (`bpbroker configure`); see LiveSettings. */
  reconfigure?: ((input: Sections, inputName: string) => Promise<{ applied: string[]; untouched: string[] }>) | undefined;
  /** Serves the dashboard under `/_ui/` (dashboard.ts). */
  dashboard?: Omit<DashboardOptions, 'adminKey' | 'log'> | undefined;
  log: Logger;
}

/** Paths the operations surface serves; every other path, `/_` ones included, is a legacy call. */
export const OPERATIONS_PATHS = ['/_health', '/_ready', '/_metrics'] as const;

/**
 * The operations surface, for load balancers, orchestrators and Prometheus: `GET /_health` (liveness),
 * `GET /_ready` (can take writes) and `GET /_metrics` (Prometheus text, behind `api.admin_key`). A namespace
 * never starts with `_`, so these paths never hide a callable one. `POST /_config` takes `{"input": SETTINGS,
 * "input_name": "..."}` from `bpbroker configure` while the broker runs, under the same rule as the metrics.
 */
export function operationsRouter(opts: OperationsOptions): Router {
  const router = Router({ caseSensitive: true, strict: true });
  router.use(OPERATIONS_PATHS as unknown as string[], (_req: Request, res: Response, next: NextFunction) => {
    res.set('Cache-Control', 'no-store');
    next();
  });
  // Liveness: the process serves (a restart would not bring etcd back); a registry it cannot use is told beside it.
  router.get('/_health', (_req, res) => {
    const registry = opts.registry?.();
    if (registry?.problem === undefined) res.json({ status: 'ok' });
    else res.json({ status: 'ok', registry: { backend: registry.backend, available: false, problem: registry.problem } });
  });
  router.get('/_ready', (_req, res) => {
    const reasons = opts.notReady();
    if (reasons.length === 0) res.json({ status: 'ready' });
    else res.status(503).json({ status: 'not ready', reasons });
  });
  router.get('/_metrics', (req, res) => {
    const refusal = adminRefusal(req, opts.adminKey, 'Metrics');
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
  const reconfigure = opts.reconfigure;
  if (reconfigure) {
    router.post('/_config', (req, res, next) => {
      res.set('Cache-Control', 'no-store');
      const refusal = adminRefusal(req, opts.adminKey, 'Configuration changes');
      if (refusal) {
        if (refusal.status === 401) res.set('WWW-Authenticate', 'Bearer realm="bpbroker configuration"');
        res.status(refusal.status).json({ status: 'refused', message: refusal.message });
        return;
      }
      next();
    });
    router.post('/_config', express.json({ limit: '1mb', strict: true }), (req, res) => {
      const body: unknown = req.body;
      const input = isPlainObject(body) ? body.input : undefined;
      const name = isPlainObject(body) && typeof body.input_name === 'string' ? body.input_name : 'the input';
      if (!isPlainObject(input)) {
        res.status(400).json({ status: 'refused', message: 'Expected {"input": {...settings}}' });
        return;
      }
      reconfigure(input, name).then(
        (change) => res.json({ status: 'applied', ...change }),
        (err: unknown) => {
          if (err instanceof ConfigError) {
            res.status(400).json({ status: 'refused', message: err.message });
            return;
          }
          opts.log.error('configuration change failed', { err });
          res.status(500).json({ status: 'error', message: `The configuration could not be saved: ${err instanceof Error ? err.message : String(err)}` });
        },
      );
    });
  }
  if (opts.dashboard) router.use(dashboardRouter({ ...opts.dashboard, adminKey: opts.adminKey, log: opts.log }));
  return router;
}
