/** Backups of bpbroker.json: rotation at a short frequency, list and restore (refused while a broker runs). */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BPBROKER, removeDir, runCli, startBroker, tempDir } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';
import { silentLogger } from '../../src/log/Logger.js';
import { Backups, backupNames, backupStamp, listBackups, restoreBackup } from '../../src/app/backups.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

function home(): { home: string; config: string } {
  const h = tempDir('bpbroker-backup-');
  dirs.push(h);
  mkdirSync(join(h, 'etc'));
  return { home: h, config: join(h, 'etc/bpbroker.json') };
}

const doc = (n: number) => JSON.stringify({ services: { web: { n, last_write_ip: '127.0.0.1', last_write_ts: n } } });
/** True once the newest backup holds `text`. */
function newestHolds(config: string, text: string): boolean {
  const newest = listBackups(config)[0];
  try {
    return newest !== undefined && readFileSync(newest.path, 'utf8') === text;
  } catch {
    return false; // pruned between the listing and the read
  }
}

describe('Backups', () => {
  it('copies the file every second and keeps the newest N', async () => {
    const { config } = home();
    writeFileSync(config, doc(0));
    const backups = new Backups({ configPath: config, freqSecs: 1, retain: 3, log: silentLogger });
    backups.start();
    try {
      // Each version is copied by the timer, then the next one is written.
      await waitFor(() => newestHolds(config, doc(0)), 10_000, 20, 'a backup of version 0');
      for (let i = 1; i <= 5; i++) {
        writeFileSync(config, doc(i));
        await waitFor(() => newestHolds(config, doc(i)), 10_000, 20, `a backup of version ${i}`);
      }
      await waitFor(async () => (await backupNames(config)).length === 3, 10_000, 20, 'pruning to the newest 3');
    } finally {
      backups.stop();
    }
    const names = await backupNames(config);
    expect(names).toHaveLength(3);
    for (const n of names) expect(n).toMatch(/^bpbroker-\d{8}T\d{6}Z\.json$/);
    const list = listBackups(config);
    expect(list.map((b) => b.name)).toEqual([...names].reverse());
    // The newest holds the latest content; every copy is private.
    expect(readFileSync(list[0]!.path, 'utf8')).toBe(doc(5));
    for (const b of list) expect(statSync(b.path).mode & 0o777).toBe(0o600);
  });

  it('names copies by UTC time, skips unchanged files, prunes to retain', async () => {
    const { config } = home();
    writeFileSync(config, doc(1));
    let t = Date.UTC(2025, 0, 2, 3, 4, 5);
    const b = new Backups({ configPath: config, freqSecs: 0, retain: 2, log: silentLogger, now: () => new Date(t) });
    expect(backupStamp(new Date(t))).toBe('20250102T030405Z');
    expect(await b.backupNow()).toBe(join(config, '..', 'backups', 'bpbroker-20250102T030405Z.json'));
    t += 1000;
    expect(await b.backupNow()).toBeUndefined(); // unchanged
    for (let i = 2; i <= 4; i++) {
      writeFileSync(config, doc(i));
      t += 1000;
      await b.backupNow();
    }
    expect(await backupNames(config)).toEqual(['bpbroker-20250102T030408Z.json', 'bpbroker-20250102T030409Z.json']);
  });

  it('no file yet: nothing to back up', async () => {
    const { config } = home();
    expect(await new Backups({ configPath: config, freqSecs: 1, retain: 2, log: silentLogger }).backupNow()).toBeUndefined();
  });
});

describe('restore', () => {
  it('validates the backup, saves the current state, replaces the file and removes the journal', async () => {
    const { home: h, config } = home();
    writeFileSync(config, doc(1));
    const b = new Backups({ configPath: config, freqSecs: 0, retain: 10, log: silentLogger, now: () => new Date(Date.UTC(2024, 5, 1)) });
    const old = (await b.backupNow())!;
    writeFileSync(config, doc(2));
    mkdirSync(join(h, 'etc/bpbroker.journal'));

    const bad = join(h, 'bad.json');
    writeFileSync(bad, '{"services": ');
    await expect(restoreBackup({ home: h, from: bad })).rejects.toThrow(/not valid JSON/);
    expect(readFileSync(config, 'utf8')).toBe(doc(2));

    const r = await restoreBackup({ home: h, from: 'bpbroker-20240601T000000Z.json' });
    expect(r).toMatchObject({ from: old, path: config, journalRemoved: true });
    expect(readFileSync(config, 'utf8')).toBe(doc(1));
    expect(existsSync(join(h, 'etc/bpbroker.journal'))).toBe(false);
    // The state before the restore is one more backup, so the restore can be undone.
    expect(JSON.parse(readFileSync(r.savedCurrent!, 'utf8')).services.web.n).toBe(2);
  });

  it('the commands list and restore; restore is refused while a broker runs', async () => {
    const { home: h, config } = home();
    writeFileSync(config, doc(7));
    const env = { BPBROKER_HOME: h };
    expect((await runCli(BPBROKER, ['backup', 'list'], { env })).stdout).toBe(`No backups in ${join(h, 'etc/backups')}\n`);
    const b = new Backups({ configPath: config, freqSecs: 0, retain: 10, log: silentLogger, now: () => new Date(Date.UTC(2024, 0, 1)) });
    await b.backupNow();
    const list = await runCli(BPBROKER, ['backup', 'list', '--json'], { env });
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ name: 'bpbroker-20240101T000000Z.json', time: '2024-01-01T00:00:00.000Z' })]);

    const broker = await startBroker({ home: h });
    try {
      const refused = await runCli(BPBROKER, ['backup', 'restore', '--from', 'bpbroker-20240101T000000Z.json'], { env });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^Fatal error: A broker \(pid \d+\) is running with .*bpbroker\.json\. Stop it first/);
    } finally {
      await broker.stop();
    }
    const ok = await runCli(BPBROKER, ['backup', 'restore', '--from', 'bpbroker-20240101T000000Z.json'], { env });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`Restored ${config} from ${join(h, 'etc/backups/bpbroker-20240101T000000Z.json')}`);
    expect(JSON.parse(readFileSync(config, 'utf8')).services.web.n).toBe(7);
    const missing = await runCli(BPBROKER, ['backup', 'restore', '--from', 'nope.json'], { env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^Fatal error: Cannot read backup .*nope\.json/);
  });
});
