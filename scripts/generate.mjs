// Regenerates generated/ from proto/ with buf and ts-proto. Cleans first, so a removed .proto leaves nothing behind.
// `node scripts/generate.mjs [baseDir]` writes to baseDir/generated (default: the repository root).
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(fileURLToPath(new URL('..', import.meta.url)));

export function generate(baseDir = root) {
  rmSync(join(baseDir, 'generated'), { recursive: true, force: true });
  const buf = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'buf.cmd' : 'buf');
  // buf resolves buf.gen.yaml's `out: generated` against --output; plugin paths against the working directory.
  execFileSync(buf, ['generate', '--output', baseDir], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  generate(process.argv[2] ? resolve(process.argv[2]) : root);
}
