// `npm run build`: the broker and CLIs (tsc -b, incremental), then the dashboard (ui/ into dist/ui), then a stamp
// that `npm start` compares with the sources (scripts/build-if-changed.mjs) so an unchanged clone starts at once.
import { execFileSync } from 'node:child_process';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Written after every successful build: its time is the build's. */
export const STAMP = join(ROOT, 'dist/.build-stamp');
/** What a build reads: a change to any of these makes `npm start` build again. */
export const INPUTS = ['src', 'generated', 'ui', 'tsconfig.json', 'package.json'];

export function build() {
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-b', ROOT], { stdio: 'inherit' });
  // The Python extension runner is not TypeScript: it ships beside the module that starts it.
  cpSync(join(ROOT, 'src/extensions/python/runner.py'), join(ROOT, 'dist/src/extensions/python/runner.py'));
  execFileSync(process.execPath, [tsc, '-p', join(ROOT, 'ui')], { stdio: 'inherit' });
  execFileSync(process.execPath, [join(ROOT, 'scripts/build-ui.mjs')], { stdio: 'inherit' });
  writeFileSync(STAMP, `${new Date().toISOString()}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    build();
  } catch {
    process.exit(1); // the compiler printed why
  }
}
