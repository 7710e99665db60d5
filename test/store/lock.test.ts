// The store lock against other processes (util-linux flock(1) holding the same file), through both
// ways ufs takes it: the native addon's flock(2) and, without the addon, the flock command.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import fs from 'node:fs/promises';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { acquireLock, tryLock } from '../../lib/store/lock.js';
import { native } from '../../lib/native.js';
import { tmpdir } from './helpers.js';

/** flock(1) holding `file` in `mode` until killed (-o: its command does not inherit the lock); resolves once it holds it. */
async function holder(file: string, mode: '-s' | '-x'): Promise<ChildProcess> {
  const c = spawn('flock', ['-o', mode, file, '-c', 'echo held; exec sleep 60'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  await new Promise<void>((resolve, reject) => {
    c.stdout!.once('data', () => resolve());
    c.once('exit', (code) => reject(new Error(`flock exited ${code}`)));
  });
  return c;
}

/** Kills flock(1) and its command (its own process group). */
function kill(c: ChildProcess): void {
  try {
    process.kill(-c.pid!, 'SIGKILL');
  } catch { /* already gone */ }
}

const ways = [
  { name: 'native flock(2)', env: '0', available: native() !== null },
  { name: 'flock(1) command', env: '1', available: true },
];

for (const way of ways) {
  describe.skipIf(!way.available)(`store lock through ${way.name}`, () => {
    let tmp: string;
    let file: string;
    const children: ChildProcess[] = [];
    beforeAll(async () => {
      process.env.UFS_LOCK_FLOCK_COMMAND = way.env;
      tmp = await tmpdir('lock');
      file = path.join(tmp, 'lock');
      await fs.writeFile(file, '');
    });
    afterEach(() => {
      for (const c of children.splice(0)) kill(c);
    });
    afterAll(async () => {
      delete process.env.UFS_LOCK_FLOCK_COMMAND;
      await fs.rm(tmp, { recursive: true, force: true });
    });

    it('waits while another process holds it exclusively, and gets it when that process dies', async () => {
      const c = await holder(file, '-x');
      children.push(c);
      expect(await tryLock(file, 'shared')).toBeNull();
      await expect(acquireLock(file, 'exclusive', 0.3)).rejects.toMatchObject({ code: 'EBUSY', syscall: 'flock' });
      const got = acquireLock(file, 'exclusive', 10);
      setTimeout(() => kill(c), 200);
      const release = await got;
      // Now we hold it: another process cannot.
      const probe = spawn('flock', ['-n', '-s', file, 'true']);
      expect(await new Promise((r) => probe.on('exit', r))).toBe(1);
      release();
      const again = spawn('flock', ['-n', '-x', file, 'true']);
      expect(await new Promise((r) => again.on('exit', r))).toBe(0);
    });

    it('shares with shared holders and excludes writers', async () => {
      children.push(await holder(file, '-s'));
      const r1 = await acquireLock(file, 'shared', 1);
      const r2 = await tryLock(file, 'shared');
      expect(r2).not.toBeNull();
      expect(await tryLock(file, 'exclusive')).toBeNull();
      r1();
      r2!();
    });
  });
}
