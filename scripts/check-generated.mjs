// Fails when generated/ is stale against proto/: regenerates into a temporary folder and compares file by file.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { generate, root } from './generate.mjs';

function files(dir) {
  const out = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  try {
    walk(dir);
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  return out.sort();
}

const tmp = mkdtempSync(join(tmpdir(), 'bpbroker-gen-'));
try {
  generate(tmp);
  const want = join(tmp, 'generated');
  const have = join(root, 'generated');
  const wantFiles = files(want);
  const haveFiles = files(have);
  const problems = [];
  for (const f of wantFiles) {
    if (!haveFiles.includes(f)) problems.push(`missing: generated/${f}`);
    else if (!readFileSync(join(want, f)).equals(readFileSync(join(have, f)))) problems.push(`differs: generated/${f}`);
  }
  for (const f of haveFiles) if (!wantFiles.includes(f)) problems.push(`extra:   generated/${f}`);
  if (problems.length) {
    console.error(`generated/ is stale against proto/ (run \`npm run generate\` and commit the result):\n  ${problems.join('\n  ')}`);
    process.exitCode = 1;
  } else {
    console.log(`generated/ is up to date (${wantFiles.length} files)`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
