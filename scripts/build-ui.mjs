// The dashboard (GET /_ui/): `tsc -p ui` compiles ui/*.ts into dist/ui; this copies the page and its style beside
// the script. Nothing is fetched: the broker serves dist/ui as it is.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const from = join(root, 'ui');
const to = join(root, 'dist', 'ui');
mkdirSync(to, { recursive: true });
for (const name of readdirSync(from)) {
  if (/\.(html|css|svg)$/.test(name)) copyFileSync(join(from, name), join(to, name));
}
