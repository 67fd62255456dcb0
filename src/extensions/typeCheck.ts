import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

/** One type error, as the compiler reports it: `file(line,col): error TSnnnn: message`. */
export interface TypeError {
  file: string;
  line: number;
  column: number;
  message: string;
}

/** Longest a check may take: a larger project is left unchecked rather than piling up compilers. */
const CHECK_TIMEOUT_MS = 60_000;

/**
 * Development mode: type-checks the TypeScript project a saved extension belongs to (the nearest tsconfig.json
 * from its folder up to `root`, the watched folder), with the `typescript` the project resolves, else the one
 * installed beside the broker. The code is loaded as before whatever this finds: type errors are reported when
 * the file is saved, not when a call runs into them. Resolves undefined when there is nothing to check with.
 */
export async function typeCheck(entry: string, root: string): Promise<{ project: string; errors: TypeError[] } | undefined> {
  const project = nearestTsconfig(dirname(entry), resolve(root));
  if (!project) return undefined;
  const tsc = compilerFor(dirname(project));
  if (!tsc) return undefined;
  const out = await new Promise<string>((done) => {
    // The compiler exits non-zero when it finds errors: its output is what matters. It names files from its cwd.
    execFile(process.execPath, [tsc, '--noEmit', '--pretty', 'false', '-p', project], { cwd: dirname(project), timeout: CHECK_TIMEOUT_MS, maxBuffer: 8 << 20 }, (_err, stdout) =>
      done(String(stdout)),
    );
  });
  return { project, errors: parseDiagnostics(out, dirname(project)) };
}

function nearestTsconfig(from: string, root: string): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'tsconfig.json');
    if (existsSync(candidate)) return candidate;
    if (dir === root || dirname(dir) === dir || !dir.startsWith(root)) return undefined;
  }
}

/** The `tsc` script of the `typescript` package the project resolves, else the broker's own. */
function compilerFor(projectDir: string): string | undefined {
  for (const base of [join(projectDir, 'noop.js'), import.meta.filename]) {
    try {
      const pkgPath = createRequire(base).resolve('typescript/package.json');
      const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { bin?: Record<string, string> };
      const bin = pkg.bin?.tsc;
      if (bin) return join(dirname(pkgPath), bin);
    } catch {
      // not installed there
    }
  }
  return undefined;
}

const DIAGNOSTIC = /^(.+?)\((\d+),(\d+)\): error (TS\d+: .*)$/;

function parseDiagnostics(out: string, projectDir: string): TypeError[] {
  const errors: TypeError[] = [];
  for (const line of out.split('\n')) {
    const m = DIAGNOSTIC.exec(line.trim());
    if (m) errors.push({ file: resolve(projectDir, m[1]!), line: Number(m[2]), column: Number(m[3]), message: m[4]! });
  }
  return errors;
}
