// Tests of the addon's l*xattr calls on real temp files: round trips, flags, symlinks, errors.
import { mkdirSync, promises as fsp, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XATTR_CREATE, XATTR_REPLACE } from '../../lib/native.js';
import {
  A,
  addon,
  expectFsError,
  isLinux,
  loadError,
  rejection,
  tempDir,
  thrown,
  trustedXattrs,
  userXattrs,
} from './helpers.js';

let dir = '';
let cleanup = (): void => {};
let n = 0;
/** A new empty regular file in the test dir. */
function file(content = ''): string {
  const f = path.join(dir, `f${n++}`);
  writeFileSync(f, content);
  return f;
}

beforeAll(() => {
  ({ dir, cleanup } = tempDir());
});
afterAll(() => cleanup());

describe('native addon loading', () => {
  it.skipIf(!isLinux)('is built and loads on Linux (build it with `node scripts/build-native.mjs`)', () => {
    expect(loadError).toBeUndefined();
    expect(addon).not.toBeNull();
  });
});

describe.skipIf(!addon || !userXattrs)('l*xattr with user.* (needs the addon and a tmpdir with user xattrs)', () => {
  it('sets, gets, lists and removes (Promise functions)', async () => {
    const a = A();
    const f = file();
    expect(await a.llistxattr(f)).toEqual([]);
    await a.lsetxattr(f, 'user.one', Buffer.from('first'), 0);
    await a.lsetxattr(f, 'user.two', Buffer.from([0, 1, 2, 0, 255]), 0);
    await a.lsetxattr(f, 'user.empty', Buffer.alloc(0), 0);
    expect((await a.lgetxattr(f, 'user.one')).toString()).toBe('first');
    expect([...(await a.lgetxattr(f, 'user.two'))]).toEqual([0, 1, 2, 0, 255]);
    const empty = await a.lgetxattr(f, 'user.empty');
    expect(Buffer.isBuffer(empty)).toBe(true);
    expect(empty.length).toBe(0);
    expect((await a.llistxattr(f)).sort()).toEqual(['user.empty', 'user.one', 'user.two']);
    await a.lremovexattr(f, 'user.one');
    expect((await a.llistxattr(f)).sort()).toEqual(['user.empty', 'user.two']);
    expectFsError(await rejection(a.lgetxattr(f, 'user.one')), 'ENODATA', 'lgetxattr', f);
  });

  it('sets, gets, lists and removes (Sync functions)', () => {
    const a = A();
    const f = file();
    a.lsetxattrSync(f, 'user.s', Buffer.from('sync'), 0);
    expect(a.lgetxattrSync(f, 'user.s').toString()).toBe('sync');
    expect(a.llistxattrSync(f)).toEqual(['user.s']);
    // a Uint8Array view into a larger buffer passes only its own bytes
    const big = new Uint8Array([9, 8, 7, 6, 5]);
    a.lsetxattrSync(f, 'user.s', big.subarray(1, 3) as Buffer, 0);
    expect([...a.lgetxattrSync(f, 'user.s')]).toEqual([8, 7]);
    a.lremovexattrSync(f, 'user.s');
    expect(a.llistxattrSync(f)).toEqual([]);
  });

  it('reads a large value (sized by a first call with size 0)', async () => {
    const a = A();
    const f = file();
    const value = Buffer.alloc(3000, 'x');
    await a.lsetxattr(f, 'user.big', value, 0);
    expect((await a.lgetxattr(f, 'user.big')).equals(value)).toBe(true);
  });

  it('gives ENODATA for a missing attribute, with syscall and path', async () => {
    const a = A();
    const f = file();
    expectFsError(await rejection(a.lgetxattr(f, 'user.missing')), 'ENODATA', 'lgetxattr', f);
    expectFsError(thrown(() => a.lgetxattrSync(f, 'user.missing')), 'ENODATA', 'lgetxattr', f);
    expectFsError(await rejection(a.lremovexattr(f, 'user.missing')), 'ENODATA', 'lremovexattr', f);
    expectFsError(thrown(() => a.lremovexattrSync(f, 'user.missing')), 'ENODATA', 'lremovexattr', f);
  });

  it('honours XATTR_CREATE (EEXIST on an existing attr) and XATTR_REPLACE (ENODATA on a missing one)', async () => {
    const a = A();
    const f = file();
    await a.lsetxattr(f, 'user.c', Buffer.from('1'), XATTR_CREATE);
    expectFsError(await rejection(a.lsetxattr(f, 'user.c', Buffer.from('2'), XATTR_CREATE)), 'EEXIST', 'lsetxattr', f);
    expectFsError(thrown(() => a.lsetxattrSync(f, 'user.c', Buffer.from('2'), XATTR_CREATE)), 'EEXIST', 'lsetxattr', f);
    expect((await a.lgetxattr(f, 'user.c')).toString()).toBe('1');
    await a.lsetxattr(f, 'user.c', Buffer.from('3'), XATTR_REPLACE);
    expect((await a.lgetxattr(f, 'user.c')).toString()).toBe('3');
    expectFsError(await rejection(a.lsetxattr(f, 'user.r', Buffer.from('x'), XATTR_REPLACE)), 'ENODATA', 'lsetxattr', f);
  });

  it("reads a symlink's own attributes, not its target's", async () => {
    const a = A();
    const target = file();
    const link = path.join(dir, `link${n++}`);
    symlinkSync(target, link);
    await a.lsetxattr(target, 'user.t', Buffer.from('target'), 0);
    expect((await a.lgetxattr(target, 'user.t')).toString()).toBe('target');
    expectFsError(await rejection(a.lgetxattr(link, 'user.t')), 'ENODATA', 'lgetxattr', link);
    expect(await a.llistxattr(link)).not.toContain('user.t');
    expect(a.llistxattrSync(target)).toContain('user.t');
  });

  it('many concurrent Promise calls all settle with their own results', async () => {
    const a = A();
    const files = Array.from({ length: 40 }, (_, i) => file(String(i)));
    await Promise.all(files.map((f, i) => a.lsetxattr(f, 'user.i', Buffer.from(String(i)), 0)));
    const values = await Promise.all(files.map((f) => a.lgetxattr(f, 'user.i')));
    expect(values.map((b) => b.toString())).toEqual(files.map((_, i) => String(i)));
  });

  it('round-trips any value and lists exactly the names set (property)', async () => {
    const a = A();
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.stringMatching(/^[a-z0-9._-]{1,20}$/), fc.uint8Array({ maxLength: 300 }), { maxKeys: 6 }),
        async (attrs) => {
          const f = file();
          for (const [k, v] of Object.entries(attrs)) await a.lsetxattr(f, `user.${k}`, Buffer.from(v), 0);
          expect((await a.llistxattr(f)).sort()).toEqual(Object.keys(attrs).map((k) => `user.${k}`).sort());
          for (const [k, v] of Object.entries(attrs)) {
            expect([...(await a.lgetxattr(f, `user.${k}`))]).toEqual([...v]);
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe.skipIf(!addon || !trustedXattrs)('l*xattr with trusted.* (needs root)', () => {
  it('sets, gets, lists and removes trusted.* (the overlay format uses trusted.overlay.*)', async () => {
    const a = A();
    const d = path.join(dir, `d${n++}`);
    mkdirSync(d);
    await a.lsetxattr(d, 'trusted.overlay.opaque', Buffer.from('y'), 0);
    expect((await a.lgetxattr(d, 'trusted.overlay.opaque')).toString()).toBe('y');
    expect(await a.llistxattr(d)).toContain('trusted.overlay.opaque');
    await a.lremovexattr(d, 'trusted.overlay.opaque');
    expect(await a.llistxattr(d)).not.toContain('trusted.overlay.opaque');
  });

  it("sets and reads a symlink's own trusted.* attribute, separate from the target's", async () => {
    const a = A();
    const target = file();
    const link = path.join(dir, `link${n++}`);
    symlinkSync(target, link);
    await a.lsetxattr(target, 'trusted.who', Buffer.from('target'), 0);
    await a.lsetxattr(link, 'trusted.who', Buffer.from('link'), 0);
    expect((await a.lgetxattr(link, 'trusted.who')).toString()).toBe('link');
    expect(a.lgetxattrSync(target, 'trusted.who').toString()).toBe('target');
    await a.lremovexattr(link, 'trusted.who');
    expectFsError(await rejection(a.lgetxattr(link, 'trusted.who')), 'ENODATA', 'lgetxattr', link);
    expect(a.lgetxattrSync(target, 'trusted.who').toString()).toBe('target');
  });
});

describe.skipIf(!addon)('l*xattr errors (needs the addon)', () => {
  it('gives ENOENT for a missing path with the syscall and path like node:fs', async () => {
    const a = A();
    const p = path.join(dir, 'no', 'such');
    expectFsError(await rejection(a.lgetxattr(p, 'user.a')), 'ENOENT', 'lgetxattr', p);
    expectFsError(thrown(() => a.lgetxattrSync(p, 'user.a')), 'ENOENT', 'lgetxattr', p);
    expectFsError(await rejection(a.lsetxattr(p, 'user.a', Buffer.from('v'), 0)), 'ENOENT', 'lsetxattr', p);
    expectFsError(await rejection(a.llistxattr(p)), 'ENOENT', 'llistxattr', p);
    expectFsError(thrown(() => a.llistxattrSync(p)), 'ENOENT', 'llistxattr', p);
    expectFsError(await rejection(a.lremovexattr(p, 'user.a')), 'ENOENT', 'lremovexattr', p);
    const e = (await rejection(a.lgetxattr('/x-ufs-missing', 'user.a'))) as Error;
    expect(e.message).toBe("ENOENT: no such file or directory, lgetxattr '/x-ufs-missing'");
  });

  it('matches the error node:fs gives for the same missing path (code, errno, message text)', async () => {
    const a = A();
    const p = path.join(dir, 'missing');
    const ours = (await rejection(a.llistxattr(p))) as NodeJS.ErrnoException;
    const node = (await rejection(fsp.lstat(p))) as NodeJS.ErrnoException;
    expect(ours.code).toBe(node.code);
    expect(ours.errno).toBe(node.errno);
    expect(ours.message.replace('llistxattr', 'lstat')).toBe(node.message);
  });

  it('rejects bad arguments with Node-style TypeErrors (Promise: rejects, Sync: throws)', async () => {
    const a = A() as unknown as Record<string, (...args: unknown[]) => unknown>;
    const e1 = await rejection(a.lgetxattr!(42, 'user.a') as Promise<unknown>);
    expect(e1).toBeInstanceOf(TypeError);
    expect((e1 as NodeJS.ErrnoException).code).toBe('ERR_INVALID_ARG_TYPE');
    const e2 = thrown(() => a.lgetxattrSync!('a\0b', 'user.a'));
    expect(e2).toBeInstanceOf(TypeError);
    expect((e2 as NodeJS.ErrnoException).code).toBe('ERR_INVALID_ARG_VALUE');
    const e3 = thrown(() => a.lsetxattrSync!(file(), 'user.a', 'not a buffer', 0));
    expect((e3 as NodeJS.ErrnoException).code).toBe('ERR_INVALID_ARG_TYPE');
    const e4 = thrown(() => a.lsetxattrSync!(file(), 'user.a', Buffer.from('x'), -1));
    expect(e4).toBeInstanceOf(RangeError);
    expect((e4 as NodeJS.ErrnoException).code).toBe('ERR_OUT_OF_RANGE');
  });
});
