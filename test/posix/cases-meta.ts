// POSIX suite, metadata: stat fields, chmod (special bits), chown, utimes, mtime/ctime updates,
// access modes, copyFile, statfs, device and inode numbers.
import { expect } from 'vitest';
import { constants } from 'node:fs';
import { expectCode, fmt, needs, OLD_SECONDS, perm, posixCase, type PosixCase } from './harness.js';

const { F_OK, R_OK, W_OK, X_OK, COPYFILE_EXCL, S_IFREG, S_IFDIR, S_IFLNK } = constants;

export const metaCases: PosixCase[] = [
  posixCase('stat of a new file: type, size, nlink, owner, times', async ({ fs, p }) => {
    await fs.writeFile(p('f'), '12345');
    const st = await fs.stat(p('f'));
    expect(fmt(st)).toBe(S_IFREG);
    expect(st.size).toBe(5);
    expect(st.nlink).toBe(1);
    expect(st.uid).toBe(process.getuid?.() ?? st.uid);
    expect(st.mtime).toBeInstanceOf(Date);
    expect(Math.abs(st.mtime.getTime() - st.mtimeMs)).toBeLessThan(1);
    expect(st.mtimeMs).toBeGreaterThan(OLD_SECONDS * 1000);
    expect(st.blksize).toBeGreaterThan(0);
  }),

  posixCase('the type bits of mode: regular file, directory, symlink', async ({ fs, p }) => {
    await fs.writeFile(p('f'), '');
    await fs.mkdir(p('d'));
    await fs.symlink('f', p('l'));
    expect(fmt(await fs.stat(p('f')))).toBe(S_IFREG);
    expect(fmt(await fs.stat(p('d')))).toBe(S_IFDIR);
    expect(fmt(await fs.lstat(p('l')))).toBe(S_IFLNK);
    expect(fmt(await fs.stat(p('l')))).toBe(S_IFREG);
    expect((await fs.lstat(p('d'))).isDirectory()).toBe(true);
  }),

  posixCase('chmod sets exact permission bits, including setuid, setgid and sticky', async ({ fs, p }) => {
    await fs.writeFile(p('f'), '');
    await fs.mkdir(p('d'));
    for (const mode of [0o000, 0o644, 0o755, 0o4755, 0o2750, 0o6711, 0o1777, 0o7777]) {
      await fs.chmod(p('f'), mode);
      expect(perm(await fs.stat(p('f')))).toBe(mode);
    }
    for (const mode of [0o700, 0o1777, 0o2775]) {
      await fs.chmod(p('d'), mode);
      const st = await fs.stat(p('d'));
      expect(perm(st)).toBe(mode);
      expect(st.isDirectory()).toBe(true);
    }
    await expectCode(() => fs.chmod(p('missing'), 0o644), 'ENOENT');
  }),

  posixCase('chmod does not touch data, size or mtime', async ({ fs, p }) => {
    await fs.writeFile(p('f'), 'payload');
    await fs.utimes(p('f'), OLD_SECONDS, OLD_SECONDS);
    await fs.chmod(p('f'), 0o600);
    const st = await fs.stat(p('f'));
    expect(st.mtimeMs).toBe(OLD_SECONDS * 1000);
    expect(st.size).toBe(7);
    expect(st.ctimeMs).toBeGreaterThan(OLD_SECONDS * 1000);
    expect(await fs.readFile(p('f'), 'utf8')).toBe('payload');
  }),

  posixCase('chown sets uid and gid; -1 keeps a value', async ({ fs, p }) => {
    await fs.writeFile(p('f'), '');
    await fs.chown(p('f'), 1234, 5678);
    let st = await fs.stat(p('f'));
    expect([st.uid, st.gid]).toEqual([1234, 5678]);
    await fs.chown(p('f'), -1, 42);
    st = await fs.stat(p('f'));
    expect([st.uid, st.gid]).toEqual([1234, 42]);
    await fs.mkdir(p('d'));
    await fs.chown(p('d'), 7, 8);
    st = await fs.stat(p('d'));
    expect([st.uid, st.gid]).toEqual([7, 8]);
    await expectCode(() => fs.chown(p('missing'), 1, 1), 'ENOENT');
  }, needs.root),

  posixCase('chown of a file clears its setuid and setgid bits (Linux)', async ({ fs, p }) => {
    await fs.writeFile(p('f'), '');
    await fs.chmod(p('f'), 0o6755);
    await fs.chown(p('f'), 1000, 1000);
    expect(perm(await fs.stat(p('f')))).toBe(0o755);
  }, needs.root),

  posixCase('chown to another owner without privilege gives EPERM', async ({ fs, p }) => {
    await fs.writeFile(p('f'), '');
    const uid = process.getuid?.() ?? 0;
    await expectCode(() => fs.chown(p('f'), uid + 1, -1), 'EPERM');
  }, needs.notRoot),

  posixCase('utimes sets atime and mtime exactly (numbers and Dates)', async ({ fs, p }) => {
    await fs.writeFile(p('f'), '');
    await fs.utimes(p('f'), 1_234_567_890, 1_111_111_111);
    let st = await fs.stat(p('f'));
    expect(st.atimeMs).toBe(1_234_567_890_000);
    expect(st.mtimeMs).toBe(1_111_111_111_000);
    await fs.utimes(p('f'), new Date('2003-04-05T06:07:08Z'), new Date('2004-05-06T07:08:09Z'));
    st = await fs.stat(p('f'));
    expect(st.atime.toISOString()).toBe('2003-04-05T06:07:08.000Z');
    expect(st.mtime.toISOString()).toBe('2004-05-06T07:08:09.000Z');
    await fs.mkdir(p('d'));
    await fs.utimes(p('d'), OLD_SECONDS, OLD_SECONDS);
    expect((await fs.stat(p('d'))).mtimeMs).toBe(OLD_SECONDS * 1000);
    await expectCode(() => fs.utimes(p('missing'), 1, 1), 'ENOENT');
  }),

  posixCase('writes, appends and truncates update mtime', async ({ fs, p }) => {
    await fs.writeFile(p('f'), 'x');
    const old = OLD_SECONDS * 1000;
    const bumps = async (op: () => Promise<unknown>): Promise<boolean> => {
      await fs.utimes(p('f'), OLD_SECONDS, OLD_SECONDS);
      await op();
      return (await fs.stat(p('f'))).mtimeMs > old;
    };
    expect(await bumps(() => fs.writeFile(p('f'), 'y'))).toBe(true);
    expect(await bumps(() => fs.appendFile(p('f'), 'z'))).toBe(true);
    expect(await bumps(() => fs.truncate(p('f'), 1))).toBe(true);
    expect(
      await bumps(async () => {
        const h = await fs.open(p('f'), 'r+');
        await h.write(Buffer.from('w'), 0, 1, 0);
        await h.close();
      }),
    ).toBe(true);
    // reading does not change mtime
    expect(await bumps(() => fs.readFile(p('f')))).toBe(false);
  }),

  posixCase('access: F_OK, R_OK, W_OK, X_OK on files and directories', async ({ fs, p, caps }) => {
    await fs.writeFile(p('f'), '');
    await fs.mkdir(p('d'));
    await fs.chmod(p('f'), 0o644);
    await fs.chmod(p('d'), 0o755);
    await fs.access(p('f'));
    await fs.access(p('f'), F_OK);
    await fs.access(p('f'), R_OK | W_OK);
    await fs.access(p('d'), R_OK | W_OK | X_OK);
    await expectCode(() => fs.access(p('missing')), 'ENOENT');
    await expectCode(() => fs.access(p('missing'), R_OK), 'ENOENT');
    // not even root may execute a file without any x bit
    await expectCode(() => fs.access(p('f'), X_OK), 'EACCES');
    await fs.chmod(p('f'), 0o744);
    await fs.access(p('f'), X_OK);
    await fs.chmod(p('f'), 0o000);
    if (caps.root) await fs.access(p('f'), R_OK | W_OK);
    else await expectCode(() => fs.access(p('f'), R_OK), 'EACCES');
  }),

  posixCase('access through a symlink checks the target', async ({ fs, p }) => {
    await fs.writeFile(p('t'), '');
    await fs.chmod(p('t'), 0o755);
    await fs.symlink('t', p('l'));
    await fs.symlink('missing', p('dangling'));
    await fs.access(p('l'), X_OK);
    await expectCode(() => fs.access(p('dangling')), 'ENOENT');
  }),

  posixCase('copyFile copies content and permission bits into an independent file', async ({ fs, p }) => {
    await fs.writeFile(p('src'), 'copy me');
    await fs.chmod(p('src'), 0o640);
    await fs.copyFile(p('src'), p('dst'));
    expect(await fs.readFile(p('dst'), 'utf8')).toBe('copy me');
    const [s, d] = [await fs.stat(p('src')), await fs.stat(p('dst'))];
    expect(perm(d)).toBe(0o640);
    expect(d.ino).not.toBe(s.ino);
    await fs.writeFile(p('dst'), 'changed');
    expect(await fs.readFile(p('src'), 'utf8')).toBe('copy me');
  }),

  posixCase('copyFile overwrites by default; COPYFILE_EXCL gives EEXIST', async ({ fs, p }) => {
    await fs.writeFile(p('src'), 'new');
    await fs.writeFile(p('dst'), 'old content');
    await expectCode(() => fs.copyFile(p('src'), p('dst'), COPYFILE_EXCL), 'EEXIST');
    expect(await fs.readFile(p('dst'), 'utf8')).toBe('old content');
    await fs.copyFile(p('src'), p('dst'));
    expect(await fs.readFile(p('dst'), 'utf8')).toBe('new');
    await fs.copyFile(p('src'), p('fresh'), COPYFILE_EXCL);
    expect(await fs.readFile(p('fresh'), 'utf8')).toBe('new');
  }),

  posixCase('copyFile errors: missing source ENOENT, directory source EISDIR', async ({ fs, p }) => {
    await fs.mkdir(p('d'));
    await expectCode(() => fs.copyFile(p('missing'), p('x')), 'ENOENT');
    await expectCode(() => fs.copyFile(p('d'), p('x')), 'EISDIR');
    expect(await fs.readdir(p(''))).toEqual(['d']);
  }),

  posixCase('copyFile from a symlink copies the target’s data', async ({ fs, p }) => {
    await fs.writeFile(p('t'), 'target');
    await fs.symlink('t', p('l'));
    await fs.copyFile(p('l'), p('c'));
    expect((await fs.lstat(p('c'))).isFile()).toBe(true);
    expect(await fs.readFile(p('c'), 'utf8')).toBe('target');
  }),

  posixCase('statfs returns sane numbers', async ({ fs, p }) => {
    const s = await fs.statfs(p(''));
    expect(s.bsize).toBeGreaterThan(0);
    expect(s.blocks).toBeGreaterThan(0);
    expect(s.bfree).toBeLessThanOrEqual(s.blocks);
    expect(s.bavail).toBeLessThanOrEqual(s.bfree);
    expect(s.bavail).toBeGreaterThan(0);
    expect(s.ffree).toBeLessThanOrEqual(s.files);
    expect(Number.isInteger(s.type)).toBe(true);
    await expectCode(() => fs.statfs(p('missing')), 'ENOENT');
  }),

  posixCase('one st_dev for the whole tree; distinct files have distinct inodes', async ({ fs, p }) => {
    await fs.mkdir(p('d/e'), { recursive: true });
    await fs.writeFile(p('f'), '');
    await fs.writeFile(p('d/g'), '');
    await fs.symlink('f', p('l'));
    const stats = await Promise.all(['', 'd', 'd/e', 'f', 'd/g'].map((r) => fs.stat(p(r))));
    stats.push(await fs.lstat(p('l')));
    expect(new Set(stats.map((s) => s.dev)).size).toBe(1);
    expect(new Set(stats.map((s) => s.ino)).size).toBe(stats.length);
  }),

  posixCase('an inode number is stable across stat calls and after changes', async ({ fs, p }) => {
    await fs.writeFile(p('f'), 'a');
    const ino = (await fs.stat(p('f'))).ino;
    await fs.chmod(p('f'), 0o600);
    await fs.appendFile(p('f'), 'b');
    await fs.truncate(p('f'), 1);
    expect((await fs.stat(p('f'))).ino).toBe(ino);
    expect((await fs.lstat(p('f'))).ino).toBe(ino);
  }),
];
