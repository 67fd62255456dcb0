// Registries of a given size, written as an existing bpbroker.json (the original's format: entries are the
// members of `services`, each with its writer's stamps), as a broker that has run for a while would have.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The data of one entry: about 150 bytes, about 200 with the stamps the broker adds. */
export function entryData(i) {
  return {
    ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    port: 8000 + (i % 1000),
    role: i % 3 === 0 ? 'db' : 'web',
    zone: `eu-west-${1 + (i % 3)}a`,
    image: 'ami-0123456789abcdef0',
    tags: 'bench,frontend,blue',
    owner: 'ops@example.com',
  };
}

export function seedRegistry(home, count) {
  const lines = [];
  for (let i = 0; i < count; i++) {
    const data = { ...entryData(i), last_write_ip: '10.0.0.1', last_write_ts: 1_700_000_000 + i };
    lines.push(`${JSON.stringify(`seed-${String(i).padStart(7, '0')}`)}:${JSON.stringify(data)}`);
  }
  mkdirSync(join(home, 'etc'), { recursive: true });
  writeFileSync(join(home, 'etc/bpbroker.json'), `{"services":{${lines.join(',\n')}}}\n`, { mode: 0o600 });
}
