// POSIX suite, names and paths: the 255-byte name limit (bytes, not characters), deep paths,
// PATH_MAX, NUL bytes, unusual characters, trailing slashes, '.' and '..', case sensitivity.
import { expect } from 'vitest';
import { expectCode, posixCase, sortedNames, type PosixCase } from './harness.js';

export const nameCases: PosixCase[] = [
  posixCase('a 255-byte name works everywhere', async ({ fs, p }) => {
    const name = 'n'.repeat(255);
    await fs.writeFile(p(name), 'long');
    expect(await fs.readdir(p(''))).toEqual([name]);
    expect((await fs.stat(p(name))).size).toBe(4);
    const other = 'm'.repeat(255);
    await fs.rename(p(name), p(other));
    await fs.symlink(other, p('l'));
    expect(await fs.readFile(p('l'), 'utf8')).toBe('long');
    await fs.mkdir(p('d'.repeat(255)));
    expect(await sortedNames(fs, p(''))).toEqual(['d'.repeat(255), 'l', other]);
  }),

  posixCase('a 256-byte name gives ENAMETOOLONG for every call', async ({ fs, p }) => {
    const long = 'x'.repeat(256);
    await fs.writeFile(p('f'), '');
    await expectCode(() => fs.writeFile(p(long), ''), 'ENAMETOOLONG');
    await expectCode(() => fs.stat(p(long)), 'ENAMETOOLONG');
    await expectCode(() => fs.lstat(p(long)), 'ENAMETOOLONG');
    await expectCode(() => fs.mkdir(p(long)), 'ENAMETOOLONG');
    await expectCode(() => fs.rename(p('f'), p(long)), 'ENAMETOOLONG');
    await expectCode(() => fs.symlink('f', p(long)), 'ENAMETOOLONG');
    await expectCode(() => fs.open(p(long), 'r'), 'ENAMETOOLONG');
    await expectCode(() => fs.stat(p(`${long}/x`)), 'ENAMETOOLONG');
    expect(await fs.readdir(p(''))).toEqual(['f']);
  }),

  posixCase('the name limit counts bytes: 85 three-byte characters work, 86 do not', async ({ fs, p }) => {
    const ok = '€'.repeat(85); // 255 bytes
    const tooLong = '€'.repeat(86); // 258 bytes, 86 characters
    await fs.writeFile(p(ok), '');
    expect(await fs.readdir(p(''))).toEqual([ok]);
    await expectCode(() => fs.writeFile(p(tooLong), ''), 'ENAMETOOLONG');
  }),

  posixCase('30 nested 100-byte directory names: create, write, list, remove', async ({ fs, p }) => {
    const parts = Array.from({ length: 30 }, (_, i) => `${String(i).padStart(2, '0')}${'d'.repeat(98)}`);
    const deep = parts.join('/');
    await fs.mkdir(p(deep), { recursive: true });
    await fs.writeFile(p(`${deep}/leaf`), 'bottom');
    expect(await fs.readFile(p(`${deep}/leaf`), 'utf8')).toBe('bottom');
    expect(await fs.readdir(p(deep))).toEqual(['leaf']);
    expect(await fs.readdir(p(parts.slice(0, 29).join('/')))).toEqual([parts[29]]);
    await fs.rename(p(`${deep}/leaf`), p(`${deep}/leaf2`));
    await fs.rm(p(parts[0] ?? ''), { recursive: true });
    expect(await fs.readdir(p(''))).toEqual([]);
  }),

  posixCase('a path longer than PATH_MAX (4096 bytes) gives ENAMETOOLONG', async ({ fs, p }) => {
    const tooLong = Array.from({ length: 45 }, () => 'q'.repeat(99)).join('/'); // 4499 bytes
    await expectCode(() => fs.stat(p(tooLong)), 'ENAMETOOLONG');
    await expectCode(() => fs.writeFile(p(tooLong), ''), 'ENAMETOOLONG');
    await expectCode(() => fs.mkdir(p(tooLong), { recursive: true }), 'ENAMETOOLONG');
  }),

  posixCase('a NUL byte in a path is rejected like node:fs (TypeError ERR_INVALID_ARG_VALUE)', async ({ fs, p }) => {
    await fs.writeFile(p('f'), '');
    const bad = p('a\0b');
    for (const op of [
      () => fs.stat(bad),
      () => fs.writeFile(bad, 'x'),
      () => fs.mkdir(bad),
      () => fs.open(bad, 'r'),
      () => fs.readdir(bad),
      () => fs.rename(p('f'), bad),
      () => fs.unlink(bad),
      () => fs.symlink('f', bad),
    ]) {
      const e = await expectCode(op, 'ERR_INVALID_ARG_VALUE');
      expect(e).toBeInstanceOf(TypeError);
    }
    expect(await fs.readdir(p(''))).toEqual(['f']);
  }),

  posixCase('unusual characters in names round-trip', async ({ fs, p }) => {
    const names = [
      'with space',
      'tab\there',
      'new\nline',
      'ünïcødé',
      '日本語',
      '😀',
      '-rf',
      '*?[]',
      'back\\slash',
      'colon:name',
      '..dots',
      '...',
      '.hidden',
      "quote'\"",
      '%41',
    ];
    for (const n of names) await fs.writeFile(p(n), n);
    expect(await sortedNames(fs, p(''))).toEqual([...names].sort());
    for (const n of names) expect(await fs.readFile(p(n), 'utf8')).toBe(n);
  }),

  posixCase('names are case-sensitive', async ({ fs, p }) => {
    await fs.writeFile(p('Name'), 'upper');
    await fs.writeFile(p('name'), 'lower');
    expect(await sortedNames(fs, p(''))).toEqual(['Name', 'name']);
    expect(await fs.readFile(p('Name'), 'utf8')).toBe('upper');
  }),

  posixCase('a trailing slash: fine on a directory, ENOTDIR on a file, EISDIR when creating a file', async ({ fs, p }) => {
    await fs.writeFile(p('f'), '');
    await fs.mkdir(p('d'));
    await fs.symlink('d', p('dl'));
    expect((await fs.stat(p('d/'))).isDirectory()).toBe(true);
    expect((await fs.stat(p('dl/'))).isDirectory()).toBe(true);
    expect((await fs.lstat(p('dl/'))).isDirectory()).toBe(true); // the slash forces following
    await expectCode(() => fs.stat(p('f/')), 'ENOTDIR');
    await expectCode(() => fs.readFile(p('f/')), 'ENOTDIR');
    await expectCode(() => fs.writeFile(p('new/'), 'x'), 'EISDIR');
    await fs.mkdir(p('newdir/'));
    expect(await sortedNames(fs, p(''))).toEqual(['d', 'dl', 'f', 'newdir']);
  }),

  posixCase("'.' and '..' components resolve, and rmdir/mkdir on them fail like Linux", async ({ fs, p }) => {
    await fs.mkdir(p('d/sub'), { recursive: true });
    await fs.mkdir(p('e'));
    const d = await fs.stat(p('d'));
    expect((await fs.stat(p('d/.'))).ino).toBe(d.ino);
    expect((await fs.stat(p('d/sub/..'))).ino).toBe(d.ino);
    expect((await fs.stat(p('d/./sub/../sub/.'))).isDirectory()).toBe(true);
    await fs.writeFile(p('d/sub/../f'), 'via dotdot');
    expect(await fs.readFile(p('d/f'), 'utf8')).toBe('via dotdot');
    await expectCode(() => fs.rmdir(p('e/.')), 'EINVAL');
    await expectCode(() => fs.rmdir(p('d/sub/..')), 'ENOTEMPTY');
    await expectCode(() => fs.mkdir(p('d/sub/..')), 'EEXIST');
    expect(await sortedNames(fs, p(''))).toEqual(['d', 'e']);
  }),

  posixCase("'..' at the case directory leads to its parent, which lists the case directory", async ({ fs, p }) => {
    await fs.writeFile(p('f'), '');
    const self = await fs.stat(p(''));
    const names = await fs.readdir(p('..'));
    const mine = await Promise.all(
      names.map(async (n) => ((await fs.lstat(`${p('..')}/${n}`)).ino === self.ino ? n : null)),
    );
    expect(mine.filter((n) => n !== null)).toHaveLength(1);
  }),
];
