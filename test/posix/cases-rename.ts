// POSIX suite, rename(2): files and directories, replacing targets, the error cases (ENOTEMPTY,
// EISDIR, ENOTDIR, EINVAL), renaming to itself, hard-linked names, symlinks and open handles.
import { expect } from 'vitest';
import { expectCode, exists, needs, posixCase, pread, sortedNames, type PosixCase } from './harness.js';

export const renameCases: PosixCase[] = [
  posixCase('rename a file within a directory keeps content and inode', async ({ fs, p }) => {
    await fs.writeFile(p('a'), 'content');
    const before = await fs.stat(p('a'));
    await fs.rename(p('a'), p('b'));
    const after = await fs.stat(p('b'));
    expect(await fs.readFile(p('b'), 'utf8')).toBe('content');
    expect(after.ino).toBe(before.ino);
    expect(after.size).toBe(7);
    await expectCode(() => fs.stat(p('a')), 'ENOENT');
    expect(await fs.readdir(p(''))).toEqual(['b']);
  }),

  posixCase('rename a file across directories', async ({ fs, p }) => {
    await fs.mkdir(p('src'));
    await fs.mkdir(p('dst/deeper'), { recursive: true });
    await fs.writeFile(p('src/f'), 'moving');
    await fs.rename(p('src/f'), p('dst/deeper/g'));
    expect(await fs.readdir(p('src'))).toEqual([]);
    expect(await fs.readFile(p('dst/deeper/g'), 'utf8')).toBe('moving');
  }),

  posixCase('rename a file over another file replaces it', async ({ fs, p }) => {
    await fs.writeFile(p('a'), 'new');
    await fs.writeFile(p('b'), 'old and longer');
    const ino = (await fs.stat(p('a'))).ino;
    await fs.rename(p('a'), p('b'));
    expect(await fs.readFile(p('b'), 'utf8')).toBe('new');
    const st = await fs.stat(p('b'));
    expect(st.ino).toBe(ino);
    expect(st.nlink).toBe(1);
    expect(await fs.readdir(p(''))).toEqual(['b']);
  }),

  posixCase('rename a directory with its contents', async ({ fs, p }) => {
    await fs.mkdir(p('d/sub'), { recursive: true });
    await fs.writeFile(p('d/sub/f'), 'deep');
    await fs.writeFile(p('d/top'), 'top');
    await fs.rename(p('d'), p('e'));
    expect(await fs.readFile(p('e/sub/f'), 'utf8')).toBe('deep');
    expect(await sortedNames(fs, p('e'))).toEqual(['sub', 'top']);
    await expectCode(() => fs.stat(p('d')), 'ENOENT');
    await expectCode(() => fs.stat(p('d/sub/f')), 'ENOENT');
  }),

  posixCase('a renamed directory leaves nothing behind: its old name is free and empty when re-created', async ({ fs, p }) => {
    await fs.mkdir(p('d'));
    await fs.writeFile(p('d/f'), 'x');
    await fs.rename(p('d'), p('moved'));
    await fs.mkdir(p('d'));
    expect(await fs.readdir(p('d'))).toEqual([]);
    expect(await fs.readdir(p('moved'))).toEqual(['f']);
  }),

  posixCase('rename a directory over an empty directory replaces it', async ({ fs, p }) => {
    await fs.mkdir(p('a'));
    await fs.writeFile(p('a/f'), 'from a');
    await fs.mkdir(p('b'));
    await fs.rename(p('a'), p('b'));
    expect(await fs.readFile(p('b/f'), 'utf8')).toBe('from a');
    expect(await fs.readdir(p(''))).toEqual(['b']);
  }),

  posixCase('rename a directory over a non-empty directory gives ENOTEMPTY', async ({ fs, p }) => {
    await fs.mkdir(p('a'));
    await fs.mkdir(p('b'));
    await fs.writeFile(p('b/keep'), 'k');
    await expectCode(() => fs.rename(p('a'), p('b')), 'ENOTEMPTY');
    expect(await fs.readFile(p('b/keep'), 'utf8')).toBe('k');
    expect(await sortedNames(fs, p(''))).toEqual(['a', 'b']);
  }),

  posixCase('rename a file over a directory gives EISDIR', async ({ fs, p }) => {
    await fs.writeFile(p('f'), '');
    await fs.mkdir(p('d'));
    await expectCode(() => fs.rename(p('f'), p('d')), 'EISDIR');
    expect((await fs.stat(p('d'))).isDirectory()).toBe(true);
  }),

  posixCase('rename a directory over a file or a symlink gives ENOTDIR', async ({ fs, p }) => {
    await fs.mkdir(p('d'));
    await fs.writeFile(p('f'), '');
    await fs.mkdir(p('other'));
    await fs.symlink('other', p('l'));
    await expectCode(() => fs.rename(p('d'), p('f')), 'ENOTDIR');
    await expectCode(() => fs.rename(p('d'), p('l')), 'ENOTDIR');
    expect(await sortedNames(fs, p(''))).toEqual(['d', 'f', 'l', 'other']);
  }),

  posixCase('rename a directory into its own subdirectory gives EINVAL', async ({ fs, p }) => {
    await fs.mkdir(p('a/b'), { recursive: true });
    await expectCode(() => fs.rename(p('a'), p('a/b/c')), 'EINVAL');
    await expectCode(() => fs.rename(p('a'), p('a/c')), 'EINVAL');
    expect(await fs.readdir(p('a'))).toEqual(['b']);
  }),

  posixCase('rename a directory onto its own ancestor gives ENOTEMPTY', async ({ fs, p }) => {
    await fs.mkdir(p('a/b'), { recursive: true });
    await expectCode(() => fs.rename(p('a/b'), p('a')), 'ENOTEMPTY');
    expect((await fs.stat(p('a/b'))).isDirectory()).toBe(true);
  }),

  posixCase('rename to itself succeeds and changes nothing', async ({ fs, p }) => {
    await fs.writeFile(p('f'), 'same');
    await fs.mkdir(p('d'));
    await fs.writeFile(p('d/x'), '');
    await fs.rename(p('f'), p('f'));
    await fs.rename(p('d'), p('d'));
    expect(await fs.readFile(p('f'), 'utf8')).toBe('same');
    expect(await fs.readdir(p('d'))).toEqual(['x']);
  }),

  posixCase('rename between two hard links of one file succeeds and keeps both names', async ({ fs, p }) => {
    await fs.writeFile(p('a'), 'shared');
    await fs.link(p('a'), p('b'));
    await fs.rename(p('a'), p('b'));
    expect(await sortedNames(fs, p(''))).toEqual(['a', 'b']);
    expect((await fs.stat(p('a'))).nlink).toBe(2);
    expect(await fs.readFile(p('b'), 'utf8')).toBe('shared');
  }, needs.hardlinks),

  posixCase('rename of one hard-linked name over another file', async ({ fs, p }) => {
    await fs.writeFile(p('a'), 'linked');
    await fs.link(p('a'), p('a2'));
    await fs.writeFile(p('c'), 'victim');
    await fs.rename(p('a'), p('c'));
    expect(await sortedNames(fs, p(''))).toEqual(['a2', 'c']);
    const [s1, s2] = [await fs.stat(p('a2')), await fs.stat(p('c'))];
    expect(s1.ino).toBe(s2.ino);
    expect(s1.nlink).toBe(2);
    expect(await fs.readFile(p('c'), 'utf8')).toBe('linked');
  }, needs.hardlinks),

  posixCase('rename errors: missing source ENOENT, missing target parent ENOENT, file as parent ENOTDIR', async ({ fs, p }) => {
    await fs.writeFile(p('f'), '');
    await fs.writeFile(p('g'), '');
    await expectCode(() => fs.rename(p('missing'), p('x')), 'ENOENT');
    await expectCode(() => fs.rename(p('f'), p('no-dir/x')), 'ENOENT');
    await expectCode(() => fs.rename(p('f'), p('g/x')), 'ENOTDIR');
    expect(await sortedNames(fs, p(''))).toEqual(['f', 'g']);
  }),

  posixCase('rename with a trailing slash on a file gives ENOTDIR', async ({ fs, p }) => {
    await fs.writeFile(p('f'), '');
    await expectCode(() => fs.rename(p('f'), p('g/')), 'ENOTDIR');
    await expectCode(() => fs.rename(p('f/'), p('g')), 'ENOTDIR');
    await fs.mkdir(p('d'));
    await fs.rename(p('d/'), p('e/'));
    expect(await sortedNames(fs, p(''))).toEqual(['e', 'f']);
  }),

  posixCase('rename moves a symlink itself, its target untouched', async ({ fs, p }) => {
    await fs.writeFile(p('target'), 't');
    await fs.symlink('target', p('l'));
    await fs.rename(p('l'), p('m'));
    expect(await fs.readlink(p('m'))).toBe('target');
    expect(await sortedNames(fs, p(''))).toEqual(['m', 'target']);
  }),

  posixCase('rename a file over a symlink replaces the link, not its target', async ({ fs, p }) => {
    await fs.writeFile(p('target'), 'target data');
    await fs.symlink('target', p('l'));
    await fs.writeFile(p('f'), 'file data');
    await fs.rename(p('f'), p('l'));
    expect((await fs.lstat(p('l'))).isFile()).toBe(true);
    expect(await fs.readFile(p('l'), 'utf8')).toBe('file data');
    expect(await fs.readFile(p('target'), 'utf8')).toBe('target data');
  }),

  posixCase('a file replaced by rename stays readable through a handle opened before', async ({ fs, p }) => {
    await fs.writeFile(p('conf'), 'version 1');
    const h = await fs.open(p('conf'), 'r');
    await fs.writeFile(p('conf.tmp'), 'version 2');
    await fs.rename(p('conf.tmp'), p('conf'));
    expect((await pread(h, 100, 0)).toString()).toBe('version 1');
    await h.close();
    expect(await fs.readFile(p('conf'), 'utf8')).toBe('version 2');
  }),

  posixCase('a handle follows its file through a rename', async ({ fs, p }) => {
    await fs.writeFile(p('a'), 'abc');
    const h = await fs.open(p('a'), 'r+');
    await fs.rename(p('a'), p('b'));
    await h.write(Buffer.from('X'), 0, 1, 3);
    await h.close();
    expect(await fs.readFile(p('b'), 'utf8')).toBe('abcX');
  }),

  posixCase('swapping two files through a temporary name', async ({ fs, p }) => {
    await fs.writeFile(p('a'), 'A');
    await fs.writeFile(p('b'), 'B');
    await fs.rename(p('a'), p('tmp'));
    await fs.rename(p('b'), p('a'));
    await fs.rename(p('tmp'), p('b'));
    expect([await fs.readFile(p('a'), 'utf8'), await fs.readFile(p('b'), 'utf8')]).toEqual(['B', 'A']);
    expect(await exists(fs, p('tmp'))).toBe(false);
  }),

  posixCase('a directory moved to another parent keeps working and updates both parents', async ({ fs, p }) => {
    await fs.mkdir(p('p1/d'), { recursive: true });
    await fs.mkdir(p('p2'));
    await fs.writeFile(p('p1/d/f'), 'f');
    await fs.rename(p('p1/d'), p('p2/d'));
    expect(await fs.readdir(p('p1'))).toEqual([]);
    expect(await fs.readdir(p('p2'))).toEqual(['d']);
    await fs.writeFile(p('p2/d/g'), 'g');
    expect(await sortedNames(fs, p('p2/d'))).toEqual(['f', 'g']);
    await fs.rmdir(p('p1'));
  }),
];
