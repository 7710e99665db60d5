// POSIX suite, regular files: create/read/write/append/truncate, open flags (O_EXCL, O_APPEND,
// O_TRUNC), positioned FileHandle I/O, sparse reads, EBADF, open-but-unlinked files, EISDIR.
import { expect } from 'vitest';
import { constants } from 'node:fs';
import { createHash } from 'node:crypto';
import { currentUmask, expectCode, needs, perm, posixCase, pread, pseudoRandom, type PosixCase } from './harness.js';

const { O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC } = constants;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export const fileCases: PosixCase[] = [
  posixCase('writeFile creates a file that readFile and stat see', async ({ fs, p }) => {
    await fs.writeFile(p('f'), Buffer.from([0, 1, 2, 255]));
    expect(await fs.readFile(p('f'))).toEqual(Buffer.from([0, 1, 2, 255]));
    const st = await fs.stat(p('f'));
    expect(st.isFile()).toBe(true);
    expect(st.size).toBe(4);
    expect(st.nlink).toBe(1);
  }),

  posixCase('readFile with utf8 returns the string written', async ({ fs, p }) => {
    await fs.writeFile(p('f'), 'grüße, 世界\n');
    expect(await fs.readFile(p('f'), 'utf8')).toBe('grüße, 世界\n');
    expect((await fs.stat(p('f'))).size).toBe(Buffer.byteLength('grüße, 世界\n'));
  }),

  posixCase('an empty file reads as zero bytes', async ({ fs, p }) => {
    await fs.writeFile(p('f'), '');
    expect((await fs.readFile(p('f'))).length).toBe(0);
    expect((await fs.stat(p('f'))).size).toBe(0);
  }),

  posixCase('writeFile replaces longer content entirely (O_TRUNC)', async ({ fs, p }) => {
    await fs.writeFile(p('f'), 'a long first version');
    await fs.writeFile(p('f'), 'short');
    expect(await fs.readFile(p('f'), 'utf8')).toBe('short');
    expect((await fs.stat(p('f'))).size).toBe(5);
  }),

  posixCase('appendFile creates a missing file, then appends', async ({ fs, p }) => {
    await fs.appendFile(p('f'), 'one');
    await fs.appendFile(p('f'), '-two');
    expect(await fs.readFile(p('f'), 'utf8')).toBe('one-two');
  }),

  posixCase("flag 'wx' fails with EEXIST on an existing file and leaves it alone", async ({ fs, p }) => {
    await fs.writeFile(p('f'), 'keep');
    await expectCode(() => fs.writeFile(p('f'), 'lost', { flag: 'wx' }), 'EEXIST');
    expect(await fs.readFile(p('f'), 'utf8')).toBe('keep');
    await fs.writeFile(p('g'), 'new', { flag: 'wx' });
    expect(await fs.readFile(p('g'), 'utf8')).toBe('new');
  }),

  posixCase('numeric flags: O_CREAT|O_EXCL gives EEXIST, O_TRUNC empties the file', async ({ fs, p }) => {
    await fs.writeFile(p('f'), 'content');
    await expectCode(() => fs.open(p('f'), O_WRONLY | O_CREAT | O_EXCL, 0o644), 'EEXIST');
    const h = await fs.open(p('f'), O_WRONLY | O_TRUNC);
    await h.close();
    expect((await fs.stat(p('f'))).size).toBe(0);
  }),

  posixCase('O_APPEND writes at the end even when a position is given (Linux pwrite)', async ({ fs, p }) => {
    await fs.writeFile(p('f'), 'base');
    const h = await fs.open(p('f'), 'a');
    await h.write(Buffer.from('XY'), 0, 2, 0);
    await h.write(Buffer.from('Z'), 0, 1, null);
    await h.close();
    expect(await fs.readFile(p('f'), 'utf8')).toBe('baseXYZ');
  }),

  posixCase("'a+' reads from the start and appends writes", async ({ fs, p }) => {
    await fs.writeFile(p('f'), 'hello');
    const h = await fs.open(p('f'), 'a+');
    expect((await pread(h, 5, 0)).toString()).toBe('hello');
    await h.write(Buffer.from('!'), 0, 1, null);
    await h.close();
    expect(await fs.readFile(p('f'), 'utf8')).toBe('hello!');
  }),

  posixCase("'r+' overwrites in place without truncating", async ({ fs, p }) => {
    await fs.writeFile(p('f'), 'abcdef');
    const h = await fs.open(p('f'), 'r+');
    await h.write(Buffer.from('XY'), 0, 2, 2);
    await h.close();
    expect(await fs.readFile(p('f'), 'utf8')).toBe('abXYef');
  }),

  posixCase('opening or reading a missing file gives ENOENT', async ({ fs, p }) => {
    await expectCode(() => fs.open(p('missing'), 'r'), 'ENOENT');
    await expectCode(() => fs.open(p('missing'), 'r+'), 'ENOENT');
    await expectCode(() => fs.readFile(p('missing')), 'ENOENT');
    await expectCode(() => fs.writeFile(p('no-dir/f'), 'x'), 'ENOENT');
  }),

  posixCase('positioned writes and reads through a FileHandle', async ({ fs, p }) => {
    const h = await fs.open(p('f'), 'w+');
    expect((await h.write(Buffer.from('0123456789'), 0, 10, 0)).bytesWritten).toBe(10);
    expect((await h.write(Buffer.from('__ab__'), 2, 2, 4)).bytesWritten).toBe(2);
    expect((await pread(h, 4, 3)).toString()).toBe('3ab6');
    expect((await pread(h, 100, 8)).toString()).toBe('89');
    expect((await pread(h, 10, 10)).length).toBe(0);
    expect((await pread(h, 10, 1000)).length).toBe(0);
    await h.close();
    expect(await fs.readFile(p('f'), 'utf8')).toBe('0123ab6789');
  }),

  posixCase('reads and writes with position null advance the file offset', async ({ fs, p }) => {
    const w = await fs.open(p('f'), 'w');
    await w.write(Buffer.from('abc'), 0, 3, null);
    await w.write(Buffer.from('def'), 0, 3, null);
    await w.close();
    const r = await fs.open(p('f'), 'r');
    expect((await pread(r, 2, null)).toString()).toBe('ab');
    expect((await pread(r, 2, 4)).toString()).toBe('ef'); // positioned: offset unchanged
    expect((await pread(r, 10, null)).toString()).toBe('cdef');
    expect((await pread(r, 10, null)).length).toBe(0);
    await r.close();
  }),

  posixCase('writing past the end leaves a hole that reads as zeros', async ({ fs, p }) => {
    const h = await fs.open(p('f'), 'w+');
    await h.write(Buffer.from('A'), 0, 1, 0);
    await h.write(Buffer.from('Z'), 0, 1, 1024 * 1024);
    expect((await h.stat()).size).toBe(1024 * 1024 + 1);
    const gap = await pread(h, 1024 * 1024 - 1, 1);
    expect(gap.length).toBe(1024 * 1024 - 1);
    expect(gap.every((b) => b === 0)).toBe(true);
    await h.close();
    const all = await fs.readFile(p('f'));
    expect([all[0], all[all.length - 1]]).toEqual([0x41, 0x5a]);
  }),

  posixCase('truncate grows with zeros, shrinks, and defaults to length 0', async ({ fs, p }) => {
    await fs.writeFile(p('f'), 'abc');
    await fs.truncate(p('f'), 6);
    expect(await fs.readFile(p('f'))).toEqual(Buffer.from([0x61, 0x62, 0x63, 0, 0, 0]));
    await fs.truncate(p('f'), 2);
    expect(await fs.readFile(p('f'), 'utf8')).toBe('ab');
    await fs.truncate(p('f'));
    expect((await fs.stat(p('f'))).size).toBe(0);
    await expectCode(() => fs.truncate(p('missing'), 1), 'ENOENT');
  }),

  posixCase('FileHandle.truncate and FileHandle.stat agree with stat on the path', async ({ fs, p }) => {
    await fs.writeFile(p('f'), '0123456789');
    const h = await fs.open(p('f'), 'r+');
    await h.truncate(4);
    const hs = await h.stat();
    expect(hs.size).toBe(4);
    await h.truncate(8);
    expect((await pread(h, 10, 0)).toString('hex')).toBe('3031323300000000');
    await h.close();
    const ps = await fs.stat(p('f'));
    expect(ps.size).toBe(8);
    expect(ps.ino).toBe(hs.ino);
    expect(ps.dev).toBe(hs.dev);
  }),

  posixCase('a 3 MiB file round-trips byte for byte', async ({ fs, p }) => {
    const data = pseudoRandom(3 * 1024 * 1024 + 17);
    await fs.writeFile(p('big'), data);
    const back = await fs.readFile(p('big'));
    expect(back.length).toBe(data.length);
    expect(sha(back)).toBe(sha(data));
    const h = await fs.open(p('big'), 'r');
    expect(await pread(h, 4096, 2 * 1024 * 1024 + 3)).toEqual(data.subarray(2 * 1024 * 1024 + 3, 2 * 1024 * 1024 + 4099));
    await h.close();
  }),

  posixCase("writing to an 'r' handle or reading from a 'w'/'a' handle gives EBADF", async ({ fs, p }) => {
    await fs.writeFile(p('f'), 'data');
    const r = await fs.open(p('f'), 'r');
    await expectCode(() => r.write(Buffer.from('x'), 0, 1, 0), 'EBADF');
    await r.close();
    const w = await fs.open(p('f'), 'w');
    await expectCode(() => w.read(Buffer.alloc(1), 0, 1, 0), 'EBADF');
    await w.close();
    const a = await fs.open(p('f'), 'a');
    await expectCode(() => a.read(Buffer.alloc(1), 0, 1, 0), 'EBADF');
    await a.close();
  }),

  posixCase('a closed FileHandle gives EBADF', async ({ fs, p }) => {
    await fs.writeFile(p('f'), 'data');
    const h = await fs.open(p('f'), 'r');
    await h.close();
    await expectCode(() => h.read(Buffer.alloc(1), 0, 1, 0), 'EBADF');
  }),

  posixCase('two handles on one file see each other’s writes before close', async ({ fs, p }) => {
    await fs.writeFile(p('f'), '....');
    const a = await fs.open(p('f'), 'r+');
    const b = await fs.open(p('f'), 'r+');
    await a.write(Buffer.from('AA'), 0, 2, 0);
    expect((await pread(b, 4, 0)).toString()).toBe('AA..');
    await b.write(Buffer.from('BBBBBB'), 0, 6, 2);
    expect((await pread(a, 10, 0)).toString()).toBe('AABBBBBB');
    expect((await a.stat()).size).toBe(8);
    await a.close();
    await b.close();
  }),

  posixCase('an unlinked file stays readable and writable through an open handle', async ({ fs, p }) => {
    await fs.writeFile(p('f'), 'still here');
    const h = await fs.open(p('f'), 'r+');
    await fs.unlink(p('f'));
    await expectCode(() => fs.stat(p('f')), 'ENOENT');
    expect((await pread(h, 100, 0)).toString()).toBe('still here');
    await h.write(Buffer.from('!'), 0, 1, 10);
    expect((await pread(h, 100, 0)).toString()).toBe('still here!');
    expect((await h.stat()).nlink).toBe(0);
    await h.close();
    expect(await fs.readdir(p(''))).toEqual([]);
  }),

  posixCase('a file created with mode 0 is still writable through the creating handle', async ({ fs, p }) => {
    const h = await fs.open(p('f'), 'wx', 0o000);
    await h.write(Buffer.from('ok'), 0, 2, 0);
    await h.close();
    expect(perm(await fs.stat(p('f')))).toBe(0);
    await fs.chmod(p('f'), 0o600);
    expect(await fs.readFile(p('f'), 'utf8')).toBe('ok');
  }),

  posixCase(
    'the creation mode is applied through the umask',
    async ({ fs, p }) => {
      const umask = currentUmask() ?? 0;
      await fs.writeFile(p('f'), 'x', { mode: 0o640 });
      expect(perm(await fs.stat(p('f')))).toBe(0o640 & ~umask);
      const h = await fs.open(p('g'), 'w', 0o604);
      await h.close();
      expect(perm(await fs.stat(p('g')))).toBe(0o604 & ~umask);
      await fs.writeFile(p('f'), 'y', { mode: 0o777 }); // an existing file keeps its mode
      expect(perm(await fs.stat(p('f')))).toBe(0o640 & ~umask);
    },
    needs.umask,
  ),

  posixCase('FileHandle sync, datasync, chmod and utimes work on the open file', async ({ fs, p }) => {
    const h = await fs.open(p('f'), 'w');
    await h.write(Buffer.from('x'), 0, 1, 0);
    await h.sync();
    await h.datasync();
    await h.chmod(0o751);
    await h.utimes(1_200_000_000, 1_300_000_000);
    const hs = await h.stat();
    await h.close();
    const st = await fs.stat(p('f'));
    expect(perm(st)).toBe(0o751);
    expect(perm(hs)).toBe(0o751);
    expect(st.mtimeMs).toBe(1_300_000_000_000);
    expect(st.atimeMs).toBe(1_200_000_000_000);
  }),

  posixCase('FileHandle.chown sets the owner', async ({ fs, p }) => {
    await fs.writeFile(p('f'), 'x');
    const h = await fs.open(p('f'), 'r+');
    await h.chown(4321, 8765);
    await h.close();
    const st = await fs.stat(p('f'));
    expect([st.uid, st.gid]).toEqual([4321, 8765]);
  }, needs.root),

  posixCase('file calls on a directory give EISDIR', async ({ fs, p }) => {
    await fs.mkdir(p('d'));
    await expectCode(() => fs.readFile(p('d')), 'EISDIR');
    await expectCode(() => fs.writeFile(p('d'), 'x'), 'EISDIR');
    await expectCode(() => fs.appendFile(p('d'), 'x'), 'EISDIR');
    await expectCode(() => fs.truncate(p('d'), 0), 'EISDIR');
    await expectCode(() => fs.open(p('d'), 'r+'), 'EISDIR');
    const h = await fs.open(p('d'), 'r'); // O_RDONLY on a directory is allowed
    await expectCode(() => h.read(Buffer.alloc(8), 0, 8, 0), 'EISDIR');
    expect((await h.stat()).isDirectory()).toBe(true);
    await h.close();
  }),

  posixCase('a path through a regular file gives ENOTDIR', async ({ fs, p }) => {
    await fs.writeFile(p('f'), 'x');
    await expectCode(() => fs.stat(p('f/x')), 'ENOTDIR');
    await expectCode(() => fs.writeFile(p('f/x'), 'y'), 'ENOTDIR');
    await expectCode(() => fs.readFile(p('f/x')), 'ENOTDIR');
  }),

  posixCase('100 concurrent writeFile calls all land', async ({ fs, p }) => {
    const names = Array.from({ length: 100 }, (_, i) => `n${i}`);
    await Promise.all(names.map((n) => fs.writeFile(p(n), `content of ${n}`)));
    expect((await fs.readdir(p(''))).sort()).toEqual([...names].sort());
    const back = await Promise.all(names.map((n) => fs.readFile(p(n), 'utf8')));
    expect(back).toEqual(names.map((n) => `content of ${n}`));
  }),

  posixCase('O_RDWR|O_CREAT on a new file gives a readable and writable handle', async ({ fs, p }) => {
    const h = await fs.open(p('f'), O_RDWR | O_CREAT, 0o600);
    await h.write(Buffer.from('rw'), 0, 2, 0);
    expect((await pread(h, 2, 0)).toString()).toBe('rw');
    await h.close();
  }),
];
