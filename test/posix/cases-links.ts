// POSIX suite, links: hard links (nlink, shared data and metadata, EEXIST, EPERM on directories),
// symlinks (relative/absolute targets, dangling, lstat vs stat, ELOOP, the 40-link limit), realpath.
import { expect } from 'vitest';
import { expectCode, exists, needs, perm, posixCase, sortedNames, type PosixCase } from './harness.js';

export const linkCases: PosixCase[] = [
  posixCase('a hard link shares inode and data; nlink counts the names', async ({ fs, p }) => {
    await fs.writeFile(p('a'), 'one');
    await fs.link(p('a'), p('b'));
    const [sa, sb] = [await fs.stat(p('a')), await fs.stat(p('b'))];
    expect(sa.ino).toBe(sb.ino);
    expect([sa.nlink, sb.nlink]).toEqual([2, 2]);
    await fs.appendFile(p('b'), '+two');
    expect(await fs.readFile(p('a'), 'utf8')).toBe('one+two');
    await fs.unlink(p('a'));
    expect((await fs.stat(p('b'))).nlink).toBe(1);
    expect(await fs.readFile(p('b'), 'utf8')).toBe('one+two');
  }, needs.hardlinks),

  posixCase('hard links across directories share metadata changes', async ({ fs, p }) => {
    await fs.mkdir(p('x'));
    await fs.mkdir(p('y'));
    await fs.writeFile(p('x/f'), 'data');
    await fs.link(p('x/f'), p('y/g'));
    await fs.link(p('x/f'), p('y/h'));
    await fs.chmod(p('y/g'), 0o604);
    await fs.utimes(p('y/h'), 1_100_000_000, 1_100_000_000);
    const st = await fs.stat(p('x/f'));
    expect(perm(st)).toBe(0o604);
    expect(st.mtimeMs).toBe(1_100_000_000_000);
    expect(st.nlink).toBe(3);
    await fs.truncate(p('y/h'), 2);
    expect(await fs.readFile(p('x/f'), 'utf8')).toBe('da');
  }, needs.hardlinks),

  posixCase('link errors: EEXIST, ENOENT, EPERM for a directory', async ({ fs, p }) => {
    await fs.writeFile(p('a'), '');
    await fs.writeFile(p('b'), '');
    await fs.mkdir(p('d'));
    await expectCode(() => fs.link(p('a'), p('b')), 'EEXIST');
    await expectCode(() => fs.link(p('missing'), p('c')), 'ENOENT');
    await expectCode(() => fs.link(p('a'), p('missing-dir/c')), 'ENOENT');
    await expectCode(() => fs.link(p('d'), p('d2')), 'EPERM');
    expect(await sortedNames(fs, p(''))).toEqual(['a', 'b', 'd']);
  }, needs.hardlinks),

  posixCase('link to a symlink links the symlink itself (no follow)', async ({ fs, p }) => {
    await fs.symlink('missing-target', p('sl'));
    await fs.link(p('sl'), p('hl'));
    const st = await fs.lstat(p('hl'));
    expect(st.isSymbolicLink()).toBe(true);
    expect(st.nlink).toBe(2);
    expect(await fs.readlink(p('hl'))).toBe('missing-target');
  }, needs.hardlinks),

  posixCase('a relative symlink: readlink, lstat and stat', async ({ fs, p }) => {
    await fs.mkdir(p('d'));
    await fs.writeFile(p('d/target'), 'hello');
    await fs.symlink('d/target', p('l'));
    expect(await fs.readlink(p('l'))).toBe('d/target');
    const ls = await fs.lstat(p('l'));
    expect(ls.isSymbolicLink()).toBe(true);
    expect(ls.size).toBe('d/target'.length);
    const st = await fs.stat(p('l'));
    expect(st.isFile()).toBe(true);
    expect(st.size).toBe(5);
    expect(st.ino).toBe((await fs.stat(p('d/target'))).ino);
    expect(await fs.readFile(p('l'), 'utf8')).toBe('hello');
  }),

  posixCase("a symlink with '..' in its target resolves from the link's directory", async ({ fs, p }) => {
    await fs.mkdir(p('a/b'), { recursive: true });
    await fs.mkdir(p('c'));
    await fs.writeFile(p('c/f'), 'sibling');
    await fs.symlink('../../c/f', p('a/b/l'));
    expect(await fs.readFile(p('a/b/l'), 'utf8')).toBe('sibling');
  }),

  posixCase('an absolute symlink to a path inside the root', async ({ fs, p }) => {
    await fs.writeFile(p('target'), 'absolute');
    await fs.mkdir(p('sub'));
    await fs.symlink(p('target'), p('sub/abs'));
    expect(await fs.readlink(p('sub/abs'))).toBe(p('target'));
    expect(await fs.readFile(p('sub/abs'), 'utf8')).toBe('absolute');
    await fs.writeFile(p('sub/abs'), 'written through');
    expect(await fs.readFile(p('target'), 'utf8')).toBe('written through');
  }),

  posixCase('readlink returns the target verbatim, even odd or missing ones', async ({ fs, p }) => {
    const targets = ['a//b/../c/', './x', '../../../../../../outside', 'with space', 'ünï'];
    for (const [i, t] of targets.entries()) await fs.symlink(t, p(`l${i}`));
    for (const [i, t] of targets.entries()) expect(await fs.readlink(p(`l${i}`))).toBe(t);
  }),

  posixCase('a dangling symlink: stat ENOENT, lstat and readlink work, readdir lists it', async ({ fs, p }) => {
    await fs.symlink('nothing-here', p('l'));
    await expectCode(() => fs.stat(p('l')), 'ENOENT');
    await expectCode(() => fs.readFile(p('l')), 'ENOENT');
    expect((await fs.lstat(p('l'))).isSymbolicLink()).toBe(true);
    expect(await fs.readlink(p('l'))).toBe('nothing-here');
    expect(await fs.readdir(p(''))).toEqual(['l']);
  }),

  posixCase("writing through a dangling symlink creates its target; 'wx' gives EEXIST", async ({ fs, p }) => {
    await fs.symlink('created', p('l'));
    await expectCode(() => fs.writeFile(p('l'), 'x', { flag: 'wx' }), 'EEXIST');
    expect(await exists(fs, p('created'))).toBe(false);
    await fs.writeFile(p('l'), 'made');
    expect(await fs.readFile(p('created'), 'utf8')).toBe('made');
    expect((await fs.lstat(p('l'))).isSymbolicLink()).toBe(true);
  }),

  posixCase('a symlink loop gives ELOOP', async ({ fs, p }) => {
    await fs.symlink('b', p('a'));
    await fs.symlink('a', p('b'));
    await fs.symlink('self', p('self'));
    await expectCode(() => fs.stat(p('a')), 'ELOOP');
    await expectCode(() => fs.readFile(p('b')), 'ELOOP');
    await expectCode(() => fs.writeFile(p('a'), 'x'), 'ELOOP');
    await expectCode(() => fs.stat(p('self')), 'ELOOP');
    await expectCode(() => fs.stat(p('self/x')), 'ELOOP');
    await expectCode(() => fs.realpath(p('a')), 'ELOOP');
    expect((await fs.lstat(p('a'))).isSymbolicLink()).toBe(true);
  }),

  posixCase('a chain of 40 symlinks resolves, 41 gives ELOOP', async ({ fs, p }) => {
    await fs.writeFile(p('l0'), 'end');
    for (let i = 1; i <= 41; i++) await fs.symlink(`l${i - 1}`, p(`l${i}`));
    expect(await fs.readFile(p('l40'), 'utf8')).toBe('end');
    await expectCode(() => fs.stat(p('l41')), 'ELOOP');
  }),

  posixCase('symlink onto an existing name gives EEXIST; readlink of a non-link EINVAL', async ({ fs, p }) => {
    await fs.writeFile(p('f'), '');
    await fs.mkdir(p('d'));
    await expectCode(() => fs.symlink('x', p('f')), 'EEXIST');
    await expectCode(() => fs.symlink('x', p('d')), 'EEXIST');
    await expectCode(() => fs.readlink(p('f')), 'EINVAL');
    await expectCode(() => fs.readlink(p('d')), 'EINVAL');
    await expectCode(() => fs.readlink(p('missing')), 'ENOENT');
  }),

  posixCase('a symlinked directory in the middle of a path is followed', async ({ fs, p }) => {
    await fs.mkdir(p('real/inner'), { recursive: true });
    await fs.symlink('real', p('via'));
    await fs.writeFile(p('via/inner/f'), 'through the link');
    expect(await fs.readFile(p('real/inner/f'), 'utf8')).toBe('through the link');
    await fs.mkdir(p('via/new'));
    expect(await sortedNames(fs, p('real'))).toEqual(['inner', 'new']);
    await fs.rename(p('via/inner/f'), p('via/g'));
    expect(await fs.readFile(p('real/g'), 'utf8')).toBe('through the link');
  }),

  posixCase("'..' after a symlinked directory is physical: it goes to the target's parent", async ({ fs, p }) => {
    await fs.mkdir(p('x/y/z'), { recursive: true });
    await fs.writeFile(p('x/y/marker'), 'in y');
    await fs.symlink('x/y/z', p('l'));
    expect(await fs.readFile(p('l/../marker'), 'utf8')).toBe('in y');
    const base = await fs.realpath(p(''));
    expect(await fs.realpath(p('l/..'))).toBe(`${base}/x/y`);
  }),

  posixCase('realpath resolves chains and relative parts; ENOENT for a missing path', async ({ fs, p }) => {
    await fs.mkdir(p('a/b'), { recursive: true });
    await fs.writeFile(p('a/b/f'), '');
    await fs.symlink('a/b', p('l1'));
    await fs.symlink('l1/f', p('l2'));
    const base = await fs.realpath(p(''));
    expect(await fs.realpath(p('l2'))).toBe(`${base}/a/b/f`);
    expect(await fs.realpath(p('a/./b/../b/f'))).toBe(`${base}/a/b/f`);
    expect(await fs.realpath(p('a/b/f'))).toBe(`${base}/a/b/f`);
    await expectCode(() => fs.realpath(p('missing')), 'ENOENT');
    await fs.symlink('gone', p('dangling'));
    await expectCode(() => fs.realpath(p('dangling')), 'ENOENT');
  }),

  posixCase('chmod and utimes follow a symlink to its target', async ({ fs, p }) => {
    await fs.writeFile(p('t'), '');
    await fs.chmod(p('t'), 0o644);
    await fs.symlink('t', p('l'));
    await fs.chmod(p('l'), 0o600);
    await fs.utimes(p('l'), 1_000_000_123, 1_000_000_456);
    const st = await fs.stat(p('t'));
    expect(perm(st)).toBe(0o600);
    expect(st.mtimeMs).toBe(1_000_000_456_000);
    expect((await fs.lstat(p('l'))).isSymbolicLink()).toBe(true);
  }),

  posixCase('lutimes sets the times of the link only', async ({ fs, p }) => {
    await fs.writeFile(p('t'), '');
    await fs.utimes(p('t'), 1_000_000_000, 1_000_000_000);
    await fs.symlink('t', p('l'));
    await fs.lutimes(p('l'), 1_500_000_000, 1_600_000_000);
    expect((await fs.lstat(p('l'))).mtimeMs).toBe(1_600_000_000_000);
    expect((await fs.lstat(p('l'))).atimeMs).toBe(1_500_000_000_000);
    expect((await fs.stat(p('t'))).mtimeMs).toBe(1_000_000_000_000);
  }),

  posixCase('lchown changes the link, chown the target', async ({ fs, p }) => {
    await fs.writeFile(p('t'), '');
    await fs.symlink('t', p('l'));
    await fs.lchown(p('l'), 1111, 2222);
    const ls = await fs.lstat(p('l'));
    expect([ls.uid, ls.gid]).toEqual([1111, 2222]);
    const ts = await fs.stat(p('t'));
    expect([ts.uid, ts.gid]).toEqual([process.getuid?.() ?? 0, process.getgid?.() ?? 0]);
    await fs.chown(p('l'), 3333, 4444);
    const ts2 = await fs.stat(p('t'));
    expect([ts2.uid, ts2.gid]).toEqual([3333, 4444]);
    expect((await fs.lstat(p('l'))).uid).toBe(1111);
  }, needs.root),
];
