/** How to reach etcd: the `registry` section's etcd settings, as the client takes them. */
export interface EtcdOptions {
  /** `https://host:port` (TLS) or `http://host:port` (plaintext), tried in order; the next one on failure. */
  endpoints: string[];
  /** PEM file of the CA that signed etcd's certificate (else the system's roots). */
  caFile?: string;
  /** PEM files of a client certificate and key, when etcd asks for one (--client-cert-auth). */
  certFile?: string;
  keyFile?: string;
  /** etcd user and password, when etcd has auth enabled; the token they give is renewed when etcd drops it. */
  username?: string;
  password?: string;
  /** Deadline of every unary call, failover included, in milliseconds (default 2000). */
  deadlineMs?: number;
}

export const DEFAULT_DEADLINE_MS = 2_000;
