// POSIX suite, special files and xattrs: fifos (mkfifo, mknod S_IFIFO), device nodes as root,
// user.* extended attributes (set/get/list/remove, ENODATA, binary values, across rename/link).
import { expect } from 'vitest';
import { constants } from 'node:fs';
import { expectCode, fmt, needs, perm, posixCase, sortedNames, type PosixCase } from './harness.js';
import { makedev } from './node-target.js';
import type { PosixFs } from './types.js';

const { S_IFIFO, S_IFCHR, S_IFBLK } = constants;

/** The fs with its optional calls present (the case's `needs` made sure they are). */
type Full = Required<PosixFs>;
const full = (fs: PosixFs): Full => fs as Full;

const userNames = async (fs: PosixFs, path: string): Promise<string[]> =>
  (await full(fs).listxattr(path)).filter((n) => n.startsWith('user.')).sort();

export const specialCases: PosixCase[] = [
  posixCase('mkfifo creates a fifo that stat, lstat and readdir report as one', async ({ fs, p }) => {
    await full(fs).mkfifo(p('pipe'), 0o640);
    await fs.chmod(p('pipe'), 0o620);
    const st = await fs.stat(p('pipe'));
    expect(st.isFIFO()).toBe(true);
    expect(fmt(st)).toBe(S_IFIFO);
    expect(perm(st)).toBe(0o620);
    expect(st.size).toBe(0);
    expect((await fs.lstat(p('pipe'))).isFIFO()).toBe(true);
    const [ent] = await fs.readdir(p(''), { withFileTypes: true });
    expect(ent?.name).toBe('pipe');
    expect(ent?.isFIFO()).toBe(true);
    await expectCode(() => full(fs).mkfifo(p('pipe'), 0o600), 'EEXIST');
  }, needs.mkfifo),

  posixCase('a fifo can be renamed, hard-linked and unlinked', async ({ fs, p, caps }) => {
    await full(fs).mkfifo(p('a'), 0o600);
    await fs.rename(p('a'), p('b'));
    expect((await fs.lstat(p('b'))).isFIFO()).toBe(true);
    if (caps.hardlinks) {
      await fs.link(p('b'), p('c'));
      expect((await fs.lstat(p('c'))).nlink).toBe(2);
      await fs.unlink(p('c'));
    }
    await fs.unlink(p('b'));
    expect(await fs.readdir(p(''))).toEqual([]);
  }, needs.mkfifo),

  posixCase('mknod with S_IFIFO creates a fifo', async ({ fs, p }) => {
    await full(fs).mknod(p('pipe'), S_IFIFO | 0o600, 0);
    expect((await fs.lstat(p('pipe'))).isFIFO()).toBe(true);
    await expectCode(() => full(fs).mknod(p('pipe'), S_IFIFO | 0o600, 0), 'EEXIST');
    await expectCode(() => full(fs).mknod(p('missing/pipe'), S_IFIFO | 0o600, 0), 'ENOENT');
  }, needs.mknod),

  posixCase('mknod creates a character device with its device number (as root)', async ({ fs, p }) => {
    await full(fs).mknod(p('null'), S_IFCHR | 0o666, makedev(1, 3));
    await fs.chmod(p('null'), 0o640);
    const st = await fs.lstat(p('null'));
    expect(st.isCharacterDevice()).toBe(true);
    expect(fmt(st)).toBe(S_IFCHR);
    expect(perm(st)).toBe(0o640);
    expect(st.rdev).toBe(makedev(1, 3));
    const [ent] = await fs.readdir(p(''), { withFileTypes: true });
    expect(ent?.isCharacterDevice()).toBe(true);
    await expectCode(() => full(fs).mknod(p('null'), S_IFCHR | 0o666, makedev(1, 3)), 'EEXIST');
  }, needs.devices),

  posixCase('mknod creates a block device with a large minor number (as root)', async ({ fs, p }) => {
    const dev = makedev(7, 300);
    await full(fs).mknod(p('blk'), S_IFBLK | 0o600, dev);
    const st = await fs.lstat(p('blk'));
    expect(st.isBlockDevice()).toBe(true);
    expect(fmt(st)).toBe(S_IFBLK);
    expect(st.rdev).toBe(dev);
    await fs.rename(p('blk'), p('blk2'));
    expect((await fs.lstat(p('blk2'))).rdev).toBe(dev);
  }, needs.devices),

  posixCase('a user xattr can be set, read, listed, replaced and removed', async ({ fs, p }) => {
    const x = full(fs);
    await fs.writeFile(p('f'), 'data');
    expect(await userNames(fs, p('f'))).toEqual([]);
    await x.setxattr(p('f'), 'user.one', 'first');
    await x.setxattr(p('f'), 'user.two', Buffer.from('second'));
    expect((await x.getxattr(p('f'), 'user.one')).toString()).toBe('first');
    expect(await userNames(fs, p('f'))).toEqual(['user.one', 'user.two']);
    await x.setxattr(p('f'), 'user.one', 'replaced');
    expect((await x.getxattr(p('f'), 'user.one')).toString()).toBe('replaced');
    await x.removexattr(p('f'), 'user.one');
    expect(await userNames(fs, p('f'))).toEqual(['user.two']);
    expect(await fs.readFile(p('f'), 'utf8')).toBe('data');
  }, needs.xattr),

  posixCase('a missing xattr gives ENODATA for get and remove; a missing file ENOENT', async ({ fs, p }) => {
    const x = full(fs);
    await fs.writeFile(p('f'), '');
    await expectCode(() => x.getxattr(p('f'), 'user.absent'), 'ENODATA');
    await expectCode(() => x.removexattr(p('f'), 'user.absent'), 'ENODATA');
    await expectCode(() => x.getxattr(p('missing'), 'user.a'), 'ENOENT');
    await expectCode(() => x.setxattr(p('missing'), 'user.a', 'v'), 'ENOENT');
    await expectCode(() => x.listxattr(p('missing')), 'ENOENT');
  }, needs.xattr),

  posixCase('xattr values are binary-safe, including empty and all 256 byte values', async ({ fs, p }) => {
    const x = full(fs);
    await fs.writeFile(p('f'), '');
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await x.setxattr(p('f'), 'user.bin', all);
    await x.setxattr(p('f'), 'user.empty', Buffer.alloc(0));
    expect(await x.getxattr(p('f'), 'user.bin')).toEqual(all);
    expect((await x.getxattr(p('f'), 'user.empty')).length).toBe(0);
    expect(await userNames(fs, p('f'))).toEqual(['user.bin', 'user.empty']);
  }, needs.xattr),

  posixCase('xattrs on a directory, and they follow the inode through rename and hard link', async ({ fs, p, caps }) => {
    const x = full(fs);
    await fs.mkdir(p('d'));
    await x.setxattr(p('d'), 'user.dir', 'on a dir');
    await fs.writeFile(p('d/f'), '');
    await x.setxattr(p('d/f'), 'user.file', 'on a file');
    await fs.rename(p('d'), p('e'));
    expect((await x.getxattr(p('e'), 'user.dir')).toString()).toBe('on a dir');
    expect((await x.getxattr(p('e/f'), 'user.file')).toString()).toBe('on a file');
    if (caps.hardlinks) {
      await fs.link(p('e/f'), p('h'));
      await x.setxattr(p('h'), 'user.via-link', '1');
      expect(await userNames(fs, p('e/f'))).toEqual(['user.file', 'user.via-link']);
    }
    await fs.writeFile(p('e/f'), 'new data'); // rewriting data keeps xattrs
    expect(await userNames(fs, p('e/f'))).toContain('user.file');
    expect(await sortedNames(fs, p(''))).toEqual(caps.hardlinks ? ['e', 'h'] : ['e']);
  }, needs.xattr),

  posixCase('copyFile and a new file start without the source’s user xattrs', async ({ fs, p }) => {
    const x = full(fs);
    await fs.writeFile(p('src'), 'x');
    await x.setxattr(p('src'), 'user.tag', 'v');
    await fs.copyFile(p('src'), p('dst'));
    await fs.writeFile(p('other'), '');
    expect(await userNames(fs, p('dst'))).toEqual([]);
    expect(await userNames(fs, p('other'))).toEqual([]);
  }, needs.xattr),

  posixCase('special files are removed by rm -r along with the rest', async ({ fs, p }) => {
    await fs.mkdir(p('t'));
    await full(fs).mkfifo(p('t/pipe'), 0o600);
    await fs.writeFile(p('t/f'), '');
    await fs.rm(p('t'), { recursive: true });
    expect(await fs.readdir(p(''))).toEqual([]);
  }, needs.mkfifo),
];
