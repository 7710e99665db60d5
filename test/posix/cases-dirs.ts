// POSIX suite, directories: mkdir (plain, recursive), rmdir, rm, unlink, readdir (types, large
// listings, no stale entries), directory nlink and mtime.
import { expect } from 'vitest';
import { expectCode, exists, needs, OLD_SECONDS, posixCase, sortedNames, type PosixCase } from './harness.js';

export const dirCases: PosixCase[] = [
  posixCase('mkdir creates an empty directory', async ({ fs, p }) => {
    expect(await fs.mkdir(p('d'))).toBeUndefined();
    expect((await fs.stat(p('d'))).isDirectory()).toBe(true);
    expect(await fs.readdir(p('d'))).toEqual([]);
  }),

  posixCase('mkdir on an existing name gives EEXIST', async ({ fs, p }) => {
    await fs.mkdir(p('d'));
    await fs.writeFile(p('f'), '');
    await fs.symlink('nowhere', p('dangling'));
    await expectCode(() => fs.mkdir(p('d')), 'EEXIST');
    await expectCode(() => fs.mkdir(p('f')), 'EEXIST');
    await expectCode(() => fs.mkdir(p('dangling')), 'EEXIST');
    expect(await fs.readlink(p('dangling'))).toBe('nowhere');
  }),

  posixCase('mkdir with a missing parent gives ENOENT, under a file ENOTDIR', async ({ fs, p }) => {
    await fs.writeFile(p('f'), '');
    await expectCode(() => fs.mkdir(p('missing/d')), 'ENOENT');
    await expectCode(() => fs.mkdir(p('f/d')), 'ENOTDIR');
  }),

  posixCase('recursive mkdir returns the first directory it created, undefined if none', async ({ fs, p }) => {
    await fs.mkdir(p('a'));
    expect(await fs.mkdir(p('a/b/c/d'), { recursive: true })).toBe(p('a/b'));
    expect((await fs.stat(p('a/b/c/d'))).isDirectory()).toBe(true);
    expect(await fs.mkdir(p('a/b/c/d'), { recursive: true })).toBeUndefined();
    expect(await fs.mkdir(p('a'), { recursive: true })).toBeUndefined();
  }),

  posixCase('recursive mkdir through a file gives ENOTDIR, onto a file EEXIST', async ({ fs, p }) => {
    await fs.writeFile(p('f'), '');
    await expectCode(() => fs.mkdir(p('f/x/y'), { recursive: true }), 'ENOTDIR');
    await expectCode(() => fs.mkdir(p('f'), { recursive: true }), 'EEXIST');
  }),

  posixCase('recursive mkdir: ENOENT onto a dangling symlink, ENOTDIR through one; through a symlink to a directory works', async ({ fs, p }) => {
    await fs.symlink('missing', p('dl'));
    await expectCode(() => fs.mkdir(p('dl'), { recursive: true }), 'ENOENT');
    await expectCode(() => fs.mkdir(p('dl/x'), { recursive: true }), 'ENOTDIR');
    await expectCode(() => fs.mkdir(p('dl/x/y'), { recursive: true }), 'ENOTDIR');
    await fs.mkdir(p('d'));
    await fs.symlink('d', p('sd'));
    expect(await fs.mkdir(p('sd/x/y'), { recursive: true })).toBe(p('sd/x'));
    expect((await fs.stat(p('d/x/y'))).isDirectory()).toBe(true);
    expect(await fs.readdir(p(''))).toEqual(expect.arrayContaining(['d', 'dl', 'sd']));
  }),

  posixCase('rmdir removes an empty directory', async ({ fs, p }) => {
    await fs.mkdir(p('d'));
    await fs.rmdir(p('d'));
    await expectCode(() => fs.stat(p('d')), 'ENOENT');
    expect(await fs.readdir(p(''))).toEqual([]);
  }),

  posixCase('rmdir errors: ENOTEMPTY, ENOTDIR (file, symlink to dir), ENOENT', async ({ fs, p }) => {
    await fs.mkdir(p('full'));
    await fs.writeFile(p('full/x'), '');
    await fs.writeFile(p('f'), '');
    await fs.mkdir(p('target'));
    await fs.symlink('target', p('link'));
    await expectCode(() => fs.rmdir(p('full')), 'ENOTEMPTY');
    await expectCode(() => fs.rmdir(p('f')), 'ENOTDIR');
    await expectCode(() => fs.rmdir(p('link')), 'ENOTDIR');
    await expectCode(() => fs.rmdir(p('missing')), 'ENOENT');
    expect(await sortedNames(fs, p(''))).toEqual(['f', 'full', 'link', 'target']);
  }),

  posixCase('a directory holding only a dotfile is not empty', async ({ fs, p }) => {
    await fs.mkdir(p('d'));
    await fs.writeFile(p('d/.hidden'), '');
    await expectCode(() => fs.rmdir(p('d')), 'ENOTEMPTY');
  }),

  posixCase('a directory emptied entry by entry can be removed', async ({ fs, p }) => {
    await fs.mkdir(p('d/sub'), { recursive: true });
    await fs.writeFile(p('d/a'), '');
    await fs.symlink('a', p('d/l'));
    await fs.unlink(p('d/a'));
    await fs.unlink(p('d/l'));
    await fs.rmdir(p('d/sub'));
    expect(await fs.readdir(p('d'))).toEqual([]);
    await fs.rmdir(p('d'));
    expect(await exists(fs, p('d'))).toBe(false);
  }),

  posixCase('rm recursive removes a whole tree', async ({ fs, p }) => {
    await fs.mkdir(p('t/a/b'), { recursive: true });
    await fs.writeFile(p('t/a/b/f'), 'x');
    await fs.writeFile(p('t/g'), 'y');
    await fs.symlink('a', p('t/l'));
    await fs.symlink('/nonexistent/absolute', p('t/a/dangling'));
    await fs.rm(p('t'), { recursive: true });
    expect(await exists(fs, p('t'))).toBe(false);
    expect(await fs.readdir(p(''))).toEqual([]);
  }),

  posixCase('rm: force ignores a missing path, without force ENOENT, a dir without recursive ERR_FS_EISDIR', async ({ fs, p }) => {
    await fs.rm(p('missing'), { force: true });
    await fs.rm(p('missing/deeper'), { force: true, recursive: true });
    await expectCode(() => fs.rm(p('missing')), 'ENOENT');
    await fs.mkdir(p('d'));
    await expectCode(() => fs.rm(p('d')), 'ERR_FS_EISDIR');
    expect(await exists(fs, p('d'))).toBe(true);
    await fs.writeFile(p('f'), '');
    await fs.rm(p('f'));
    expect(await exists(fs, p('f'))).toBe(false);
  }),

  posixCase('rm recursive on a symlink to a directory removes only the link', async ({ fs, p }) => {
    await fs.mkdir(p('target'));
    await fs.writeFile(p('target/keep'), 'k');
    await fs.symlink('target', p('link'));
    await fs.rm(p('link'), { recursive: true });
    expect(await exists(fs, p('link'))).toBe(false);
    expect(await fs.readFile(p('target/keep'), 'utf8')).toBe('k');
  }),

  posixCase('unlink: a directory gives EISDIR, a missing name ENOENT, a trailing slash ENOTDIR', async ({ fs, p }) => {
    await fs.mkdir(p('d'));
    await fs.writeFile(p('f'), '');
    await expectCode(() => fs.unlink(p('d')), 'EISDIR');
    await expectCode(() => fs.unlink(p('missing')), 'ENOENT');
    await expectCode(() => fs.unlink(p('f/')), 'ENOTDIR');
    await fs.unlink(p('f'));
    expect(await sortedNames(fs, p(''))).toEqual(['d']);
  }),

  posixCase('unlink of a symlink removes the link, not its target', async ({ fs, p }) => {
    await fs.writeFile(p('target'), 'data');
    await fs.symlink('target', p('link'));
    await fs.unlink(p('link'));
    expect(await fs.readFile(p('target'), 'utf8')).toBe('data');
    expect(await fs.readdir(p(''))).toEqual(['target']);
  }),

  posixCase("readdir lists exactly the entries, without '.' and '..'", async ({ fs, p }) => {
    await fs.writeFile(p('file'), '');
    await fs.mkdir(p('dir'));
    await fs.writeFile(p('.dot'), '');
    await fs.symlink('file', p('link'));
    expect(await sortedNames(fs, p(''))).toEqual(['.dot', 'dir', 'file', 'link']);
    expect(await fs.readdir(p('dir'))).toEqual([]);
  }),

  posixCase('readdir withFileTypes reports each type', async ({ fs, p }) => {
    await fs.writeFile(p('file'), '');
    await fs.mkdir(p('dir'));
    await fs.symlink('dir', p('link-to-dir'));
    await fs.symlink('missing', p('dangling'));
    const ents = await fs.readdir(p(''), { withFileTypes: true });
    const kinds = Object.fromEntries(
      ents.map((e) => [
        e.name,
        [e.isFile(), e.isDirectory(), e.isSymbolicLink(), e.isFIFO()].map((b) => (b ? 1 : 0)).join(''),
      ]),
    );
    expect(kinds).toEqual({ file: '1000', dir: '0100', 'link-to-dir': '0010', dangling: '0010' });
  }),

  posixCase('readdir of a file gives ENOTDIR, of a missing path ENOENT', async ({ fs, p }) => {
    await fs.writeFile(p('f'), '');
    await expectCode(() => fs.readdir(p('f')), 'ENOTDIR');
    await expectCode(() => fs.readdir(p('missing')), 'ENOENT');
  }),

  posixCase('readdir of a symlink to a directory lists the target', async ({ fs, p }) => {
    await fs.mkdir(p('d'));
    await fs.writeFile(p('d/inside'), '');
    await fs.symlink('d', p('l'));
    expect(await fs.readdir(p('l'))).toEqual(['inside']);
  }),

  posixCase('a directory of 1000 entries lists all of them, and exactly the survivors after deletes', async ({ fs, p }) => {
    const names = Array.from({ length: 1000 }, (_, i) => `entry-${String(i).padStart(4, '0')}`);
    for (let i = 0; i < names.length; i += 100) {
      await Promise.all(names.slice(i, i + 100).map((n) => fs.writeFile(p(n), n)));
    }
    const listed = await fs.readdir(p(''));
    expect(listed.length).toBe(1000);
    expect(listed.sort()).toEqual(names);
    const odd = names.filter((_, i) => i % 2 === 1);
    for (let i = 0; i < odd.length; i += 100) {
      await Promise.all(odd.slice(i, i + 100).map((n) => fs.unlink(p(n))));
    }
    expect((await fs.readdir(p(''))).sort()).toEqual(names.filter((_, i) => i % 2 === 0));
  }),

  posixCase('readdir never shows stale entries after create, rename and delete', async ({ fs, p }) => {
    await fs.writeFile(p('a'), '');
    expect(await fs.readdir(p(''))).toEqual(['a']);
    await fs.rename(p('a'), p('b'));
    expect(await fs.readdir(p(''))).toEqual(['b']);
    await fs.mkdir(p('a'));
    expect(await sortedNames(fs, p(''))).toEqual(['a', 'b']);
    await fs.unlink(p('b'));
    await fs.rmdir(p('a'));
    expect(await fs.readdir(p(''))).toEqual([]);
  }),

  posixCase('a name can change type: file removed, directory created, and back', async ({ fs, p }) => {
    await fs.writeFile(p('x'), 'file');
    await fs.unlink(p('x'));
    await fs.mkdir(p('x'));
    await fs.writeFile(p('x/child'), '');
    expect((await fs.stat(p('x'))).isDirectory()).toBe(true);
    await fs.rm(p('x'), { recursive: true });
    await fs.writeFile(p('x'), 'file again');
    expect(await fs.readFile(p('x'), 'utf8')).toBe('file again');
    await expectCode(() => fs.stat(p('x/child')), 'ENOTDIR');
  }),

  posixCase('directory nlink counts subdirectories (or is 1 where the fs does not count)', async ({ fs, p }) => {
    await fs.mkdir(p('d'));
    const empty = (await fs.stat(p('d'))).nlink;
    await fs.mkdir(p('d/s1'));
    await fs.mkdir(p('d/s2'));
    await fs.writeFile(p('d/file'), '');
    const two = (await fs.stat(p('d'))).nlink;
    if (empty === 1) expect(two).toBe(1);
    else expect([empty, two]).toEqual([2, 4]);
    await fs.rmdir(p('d/s1'));
    expect((await fs.stat(p('d'))).nlink).toBe(empty === 1 ? 1 : 3);
  }),

  posixCase("a directory's mtime changes when entries are created, renamed or removed", async ({ fs, p }) => {
    await fs.mkdir(p('d'));
    const old = OLD_SECONDS * 1000;
    const touched = async (op: () => Promise<unknown>): Promise<boolean> => {
      await fs.utimes(p('d'), OLD_SECONDS, OLD_SECONDS);
      await op();
      return (await fs.stat(p('d'))).mtimeMs > old;
    };
    expect(await touched(() => fs.writeFile(p('d/f'), ''))).toBe(true);
    expect(await touched(() => fs.mkdir(p('d/sub')))).toBe(true);
    expect(await touched(() => fs.rename(p('d/f'), p('d/g')))).toBe(true);
    expect(await touched(() => fs.unlink(p('d/g')))).toBe(true);
    expect(await touched(() => fs.rmdir(p('d/sub')))).toBe(true);
    expect(await touched(() => fs.symlink('x', p('d/l')))).toBe(true);
  }),

  posixCase('a new hard link updates the directory mtime', async ({ fs, p }) => {
    await fs.writeFile(p('f'), '');
    await fs.mkdir(p('d'));
    await fs.utimes(p('d'), OLD_SECONDS, OLD_SECONDS);
    await fs.link(p('f'), p('d/h'));
    expect((await fs.stat(p('d'))).mtimeMs).toBeGreaterThan(OLD_SECONDS * 1000);
  }, needs.hardlinks),
];
