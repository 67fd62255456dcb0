// `npm run schema` writes bpbroker.schema.json from the configuration schema (src/config/schema.ts, built into
// dist/); with --check (in `npm test`) it fails when the committed file is not what the schema gives.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const file = join(root, 'bpbroker.schema.json');
const { configJsonSchemaText } = await import(join(root, 'dist/src/config/schema.js'));
const want = configJsonSchemaText();

if (process.argv.includes('--check')) {
  let have = '';
  try {
    have = readFileSync(file, 'utf8');
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  if (have !== want) {
    console.error('Stale bpbroker.schema.json. Run `npm run schema` and commit the result.');
    process.exit(1);
  }
  console.log('bpbroker.schema.json is fresh');
} else {
  writeFileSync(file, want);
  console.log(`wrote ${file}`);
}
