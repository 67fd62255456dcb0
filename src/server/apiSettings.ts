import type { Sections } from '../config/defaults.js';

/** The `api` section as typed values (validated when the file was read). */
export function apiSettings(sections: Sections) {
  const api = sections.api ?? {};
  const num = (k: string, d: number): number => (typeof api[k] === 'number' ? (api[k] as number) : d);
  return {
    host: typeof api.listen_ip === 'string' ? api.listen_ip : '',
    port: num('listen_port', 20443),
    maxBodyBytes: num('max_body_bytes', 1048576),
    maxHeaderBytes: num('max_header_bytes', 131072),
    maxNameLength: num('max_name_length', 65536),
    maxEntryBytes: num('max_entry_bytes', 1048576),
    headersTimeoutMs: num('headers_timeout_secs', 10) * 1000,
    idleTimeoutMs: num('idle_timeout_secs', 30) * 1000,
    requestTimeoutMs: num('request_timeout_secs', 60) * 1000,
  };
}
