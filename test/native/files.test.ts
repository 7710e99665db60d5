// Tests of the addon's mknod, renameat2 and flock on real temp files: fifos, 0/0 character devices
// (whiteouts), RENAME_NOREPLACE / RENAME_EXCHANGE / RENAME_WHITEOUT, locks, and their errors.
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, constants, existsSync, lstatSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN, RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT } from '../../lib/native.js';
import { A, addon, canWhiteout, expectFsError, isRoot, rejection, tempDir, thrown } from './helpers.js';

let dir = '';
let cleanup = (): void => {};
let n = 0;
const name = (base: string): string => path.join(dir, `${base}${n++}`);
const addonFile = path.resolve(import.meta.dirname, '..', '..', 'native', 'build', 'Release', 'ufs_native.node');
function file(content: string): string {
  const f = name('f');
  writeFileSync(f, content);
  return f;
}

beforeAll(() => {
  ({ dir, cleanup } = tempDir());
});
afterAll(() => cleanup());

describe.skipIf(!addon)('mknod (needs the addon)', () => {
  it('makes a fifo (Promise and Sync)', async () => {
    const a = A();
    const p1 = name('fifo');
    await a.mknod(p1, constants.S_IFIFO | 0o640, 0);
    const st = lstatSync(p1);
    expect(st.isFIFO()).toBe(true);
    expect(st.mode & 0o777).toBe(0o640 & ~process.umask());
    const p2 = name('fifo');
    a.mknodSync(p2, constants.S_IFIFO | 0o600, 0);
    expect(lstatSync(p2).isFIFO()).toBe(true);
  });

  it('gives EEXIST on an existing name and ENOENT in a missing directory', async () => {
    const a = A();
    const f = file('x');
    expectFsError(await rejection(a.mknod(f, constants.S_IFIFO | 0o644, 0)), 'EEXIST', 'mknod', f);
    const missing = path.join(dir, 'nodir', 'fifo');
    expectFsError(thrown(() => a.mknodSync(missing, constants.S_IFIFO | 0o644, 0)), 'ENOENT', 'mknod', missing);
  });

  it.skipIf(!canWhiteout)('makes a 0/0 character device, the overlay whiteout (needs root or Linux >= 5.8)', async () => {
    const a = A();
    const p = name('wh');
    await a.mknod(p, constants.S_IFCHR | 0o644, 0);
    const st = lstatSync(p);
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(0);
  });

  it.skipIf(!isRoot)('passes the device number through as fs.Stats#rdev shows it (needs root)', () => {
    const a = A();
    const p = name('null');
    const devNull = lstatSync('/dev/null').rdev; // 1:3
    a.mknodSync(p, constants.S_IFCHR | 0o666, devNull);
    expect(lstatSync(p).rdev).toBe(devNull);
  });

  it('refuses a real (non-0/0) character device to a user with EPERM (as root: in a child process as nobody)', async () => {
    const p = name('null');
    const devNull = lstatSync('/dev/null').rdev;
    if (!isRoot) {
      expectFsError(await rejection(A().mknod(p, constants.S_IFCHR | 0o644, devNull)), 'EPERM', 'mknod', p);
      return;
    }
    // The addon itself, loaded by an unprivileged process, in a directory that process may write.
    const open = path.join(dir, `open${n++}`);
    mkdirSync(open, { mode: 0o777 });
    chmodSync(open, 0o777);
    chmodSync(dir, 0o755);
    const target = path.join(open, 'null');
    const script = `const a = require(${JSON.stringify(addonFile)});
      try { a.mknodSync(${JSON.stringify(target)}, ${constants.S_IFCHR | 0o644}, ${devNull}); console.log('made'); }
      catch (e) { console.log(JSON.stringify({ code: e.code, syscall: e.syscall, path: e.path })); }`;
    const out = execFileSync(process.execPath, ['-e', script], { uid: 65534, gid: 65534, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ code: 'EPERM', syscall: 'mknod', path: target });
    expect(existsSync(target)).toBe(false);
  });
});

describe.skipIf(!addon)('renameat2 (needs the addon)', () => {
  it('with no flags renames like rename(2)', async () => {
    const a = A();
    const from = file('one');
    const to = name('to');
    await a.renameat2(from, to, 0);
    expect(existsSync(from)).toBe(false);
    expect(readFileSync(to, 'utf8')).toBe('one');
    const to2 = name('to');
    a.renameat2Sync(to, to2, 0);
    expect(readFileSync(to2, 'utf8')).toBe('one');
  });

  it('RENAME_NOREPLACE onto an existing file gives EEXIST with path and dest, changing nothing', async () => {
    const a = A();
    const from = file('from');
    const to = file('to');
    expectFsError(await rejection(a.renameat2(from, to, RENAME_NOREPLACE)), 'EEXIST', 'renameat2', from, to);
    expectFsError(thrown(() => a.renameat2Sync(from, to, RENAME_NOREPLACE)), 'EEXIST', 'renameat2', from, to);
    expect(readFileSync(from, 'utf8')).toBe('from');
    expect(readFileSync(to, 'utf8')).toBe('to');
    const free = name('free');
    await a.renameat2(from, free, RENAME_NOREPLACE);
    expect(readFileSync(free, 'utf8')).toBe('from');
    expect(existsSync(from)).toBe(false);
  });

  it('RENAME_EXCHANGE swaps two files', async () => {
    const a = A();
    const x = file('x');
    const y = file('y');
    const ix = lstatSync(x).ino;
    await a.renameat2(x, y, RENAME_EXCHANGE);
    expect(readFileSync(x, 'utf8')).toBe('y');
    expect(readFileSync(y, 'utf8')).toBe('x');
    expect(lstatSync(y).ino).toBe(ix);
    a.renameat2Sync(x, y, RENAME_EXCHANGE);
    expect(readFileSync(x, 'utf8')).toBe('x');
  });

  it('RENAME_EXCHANGE with a missing name gives ENOENT', async () => {
    const a = A();
    const x = file('x');
    const missing = name('missing');
    expectFsError(await rejection(a.renameat2(x, missing, RENAME_EXCHANGE)), 'ENOENT', 'renameat2', x, missing);
    expect(readFileSync(x, 'utf8')).toBe('x');
  });

  it('gives EINVAL for contradictory flags', async () => {
    const a = A();
    const x = file('x');
    const y = file('y');
    const e = await rejection(a.renameat2(x, y, RENAME_NOREPLACE | RENAME_EXCHANGE));
    expectFsError(e, 'EINVAL', 'renameat2', x, y);
  });

  it.skipIf(!canWhiteout)('RENAME_WHITEOUT leaves a 0/0 character device at the old name (needs root or Linux >= 5.8)', async () => {
    const a = A();
    const from = file('moved');
    const to = name('to');
    await a.renameat2(from, to, RENAME_WHITEOUT);
    expect(readFileSync(to, 'utf8')).toBe('moved');
    const st = lstatSync(from);
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(0);
  });
});

describe.skipIf(!addon)('flock (needs the addon)', () => {
  it('locks an open file against another open file description, and fails with EAGAIN / EBADF', async () => {
    const a = A();
    const f = file('lock');
    const fd1 = openSync(f, 'r+');
    const fd2 = openSync(f, 'r+');
    try {
      a.flockSync(fd1, LOCK_EX | LOCK_NB);
      // flock(1) in another process cannot take it while fd1 holds it.
      expect(() => execFileSync('flock', ['-n', '-s', f, 'true'])).toThrow();
      const busy = await rejection(a.flock(fd2, LOCK_SH | LOCK_NB));
      expect((busy as NodeJS.ErrnoException).code).toBe('EAGAIN');
      expect((busy as NodeJS.ErrnoException).syscall).toBe('flock');
      a.flockSync(fd1, LOCK_UN);
      await a.flock(fd2, LOCK_SH | LOCK_NB);
      execFileSync('flock', ['-n', '-s', f, 'true']);
      expect((thrown(() => a.flockSync(987654, LOCK_EX)) as NodeJS.ErrnoException).code).toBe('EBADF');
    } finally {
      closeSync(fd1);
      closeSync(fd2);
    }
  });
});
