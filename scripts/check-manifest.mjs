// Fails when oclif.manifest.json or bpclient/oclif.manifest.json no longer match the compiled commands:
// regenerates both in a scratch copy of the package and compares.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'bpbroker-manifest-'));
try {
  cpSync(join(root, 'package.json'), join(scratch, 'package.json'));
  mkdirSync(join(scratch, 'bpclient'));
  cpSync(join(root, 'bpclient/package.json'), join(scratch, 'bpclient/package.json'));
  // dist/ is copied (manifests record command paths as resolved); node_modules/ is only linked.
  cpSync(join(root, 'dist'), join(scratch, 'dist'), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'), 'dir');
  const oclif = join(root, 'node_modules/.bin/oclif');
  const env = { ...process.env, OCLIF_SKIP_UPDATE_CHECK: '1' };
  execFileSync(oclif, ['manifest', 'bpclient'], { cwd: scratch, stdio: 'ignore', env });
  execFileSync(oclif, ['manifest'], { cwd: scratch, stdio: 'ignore', env });
  const stale = ['oclif.manifest.json', 'bpclient/oclif.manifest.json'].filter((f) => {
    const read = (dir) => JSON.stringify(JSON.parse(readFileSync(join(dir, f), 'utf8')));
    try {
      return read(root) !== read(scratch);
    } catch {
      return true;
    }
  });
  if (stale.length) {
    console.error(`Stale oclif manifest: ${stale.join(', ')}. Run \`npm run build && npm run manifest\` and commit the result.`);
    process.exit(1);
  }
  console.log('oclif manifests are fresh');
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
