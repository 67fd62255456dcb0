// `npm start` runs this first: it compiles only when a source changed since the last build (tsc -b writes
// dist/tsconfig.tsbuildinfo at every build), so an unchanged clone starts at once, and says so while it builds.
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const stamp = join(root, 'dist/tsconfig.tsbuildinfo');

/** The newest modification time under `path` (a file or a folder), 0 when it does not exist. */
function newest(path) {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs; // a removed or renamed file changes its folder's time
  for (const name of readdirSync(path)) max = Math.max(max, newest(join(path, name)));
  return max;
}

let built = 0;
try {
  built = statSync(stamp).mtimeMs;
} catch {
  built = 0; // never built
}
const inputs = ['src', 'generated', 'tsconfig.json'].map((p) => newest(join(root, p)));
if (Math.max(...inputs) > built) {
  process.stderr.write(built ? 'Sources changed: compiling (tsc -b)...\n' : 'First start: compiling the TypeScript sources into dist/ (tsc -b, about half a minute)...\n');
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-b', root], { stdio: 'inherit' });
  } catch {
    process.exit(1); // tsc printed why
  }
}
