// Fails when package.json's engines.node promises a Node version that a dependency does not run on: the lowest
// Node the range admits must satisfy every runtime dependency's own engines.node (read from package-lock.json),
// and the Node running this check must satisfy the development dependencies' ranges.
import { readFileSync } from 'node:fs';
import semver from 'semver';

const root = new URL('..', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8'));
const floor = semver.minVersion(pkg.engines.node);
const failures = [];
for (const [path, entry] of Object.entries(lock.packages)) {
  const range = entry.engines?.node;
  if (!path || !range || entry.optional) continue;
  const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
  const node = entry.dev ? process.versions.node : floor.version;
  if (!semver.satisfies(node, range)) failures.push(`${name}@${entry.version} needs Node ${range} (checked ${node})`);
}
if (failures.length > 0) {
  console.error(`engines.node "${pkg.engines.node}" is not true to the dependencies:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
