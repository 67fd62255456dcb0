// `npm start` runs this first: it builds only when a source changed since the last build (scripts/build.mjs
// stamps every build), so an unchanged clone starts at once, and it says so while it builds.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { build, INPUTS, ROOT, STAMP } from './build.mjs';

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
  built = statSync(STAMP).mtimeMs;
} catch {
  built = 0; // never built
}
if (Math.max(...INPUTS.map((p) => newest(join(ROOT, p)))) > built) {
  process.stderr.write(built ? 'Sources changed: compiling...\n' : 'First start: compiling the TypeScript sources into dist/ (a few seconds)...\n');
  try {
    build();
  } catch {
    process.exit(1); // the compiler printed why
  }
}
