/** Upper bounds (seconds) of the request latency buckets: from a cached Get to a minute-long watch. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;

/** Label of every call to a namespace or method that is not callable: clients cannot grow the table. */
export const UNKNOWN = '_unknown';

/** The counts of one (namespace, method): requests by status, and their latencies. */
export class RequestRow {
  readonly statuses = new Map<number | string, number>();
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length);
  sum = 0;
  count = 0;

  /** Plain number and Map updates: nothing allocated once the status has been seen. */
  record(status: number | string, seconds: number): void {
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
    this.sum += seconds;
    this.count++;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= LATENCY_BUCKETS[i]!) {
        this.buckets[i]!++;
        return;
      }
    }
  }
}

/**
 * The requests of one protocol, by namespace and method. prom-client hashes a label set on every observe; this
 * table is read on the hot path instead (two Map lookups) and turned into metric values only when scraped.
 * Rows exist only for calls the broker serves (`known`), so arbitrary names sent by clients share one row.
 */
export class ProtocolStats {
  readonly rows = new Map<string, Map<string, RequestRow>>();

  constructor(
    readonly protocol: string,
    private readonly known: (namespace: string, method: string) => boolean,
  ) {}

  row(namespace: string, method: string): RequestRow {
    const row = this.rows.get(namespace)?.get(method);
    if (row) return row;
    return this.known(namespace, method) ? this.add(namespace, method) : (this.rows.get(UNKNOWN)?.get(UNKNOWN) ?? this.add(UNKNOWN, UNKNOWN));
  }

  record(namespace: string, method: string, status: number | string, seconds: number): void {
    this.row(namespace, method).record(status, seconds);
  }

  private add(namespace: string, method: string): RequestRow {
    let methods = this.rows.get(namespace);
    if (!methods) {
      methods = new Map();
      this.rows.set(namespace, methods);
    }
    const row = new RequestRow();
    methods.set(method, row);
    return row;
  }
}
