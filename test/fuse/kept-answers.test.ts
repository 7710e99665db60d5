// What the low-level binding answers in C from what JavaScript told it earlier: lookups of names
// in a directory's last listing (with their attributes and xattr names), getxattr/listxattr from
// those names, readlink, and the kernel's own listing cache (FOPEN_CACHE_DIR). Each check makes
// changes through the mount and then makes the kernel ask again (dentries dropped), so a stale
// answer would show; the content checks run with every binding, the counters with ufs-ll.
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { binding, bindingCounters, canMount, cleanupAll, forgetDentries, mountLayersForSuite, run, ufsmount } from './helpers.js';

afterAll(cleanupAll);

const FILES = 40;
const statsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ufs-kept-'));
afterAll(() => fs.rmSync(statsDir, { recursive: true, force: true }));

/** `find DIR -printf` of every entry of the mount's directory: name, size, mode, type, link target. */
async function listing(dir: string): Promise<string[]> {
  const r = await run('find', [dir, '-mindepth', '1', '-maxdepth', '1', '-printf', '%f %s %m %y %l\\n']);
  expect(r.stderr).toBe('');
  return r.stdout.split('\n').filter(Boolean).sort();
}

async function xattr(p: string, name: string): Promise<string> {
  const r = await run('getfattr', ['--only-values', '-h', '-n', name, p]);
  return r.code === 0 ? r.stdout : `error: ${r.stderr.includes('No such attribute') ? 'ENODATA' : r.stderr.trim()}`;
}

describe.skipIf(!canMount)('answers kept from listings (lookups, xattrs, readlink, the kernel listing cache)', () => {
  const stats = path.join(statsDir, 'stats.json');
  const S = mountLayersForSuite({
    env: { ...process.env, UFS_FUSE_STATS: stats },
    prepare: async (L) => {
      await fsp.mkdir(path.join(L.l2, 'k'));
      for (let i = 0; i < FILES; i++) await fsp.writeFile(path.join(L.l2, 'k', `f${i}`), 'x'.repeat(i));
      await fsp.mkdir(path.join(L.l1, 'k'));
      await fsp.writeFile(path.join(L.l1, 'k', 'f0'), 'top layer\n');          // shadows l2's f0
      await fsp.symlink('f1', path.join(L.l1, 'k', 'ln'));
      await fsp.mkdir(path.join(L.l1, 'k', 'sub'));
      await run('setfattr', ['-n', 'user.color', '-v', 'blue', path.join(L.l2, 'k', 'f2')]);
      await run('mknod', [path.join(L.l1, 'k', 'f3'), 'c', '0', '0']);           // a whiteout: f3 is gone
    },
  });

  it('a walk sees what the layers hold (shadowing, whiteouts, symlinks, sizes)', async () => {
    await fsp.readdir(S.m('k'));
    forgetDentries();
    const got = await listing(S.m('k'));
    const want = [
      'f0 10 644 f ', 'ln 2 777 l f1', 'sub 4096 755 d ',
      ...Array.from({ length: FILES }, (_, i) => i).filter((i) => i !== 0 && i !== 3).map((i) => `f${i} ${i} 644 f `),
    ].sort();
    expect(got.map((l) => l.replace(/^sub \d+ /, 'sub 4096 '))).toEqual(want);
  });

  it('xattrs: values of listed names, ENODATA for others, without a stale answer after setfattr', async () => {
    await fsp.readdir(S.m('k'));
    forgetDentries();
    expect(await xattr(S.m('k/f2'), 'user.color')).toBe('blue');
    expect(await xattr(S.m('k/f2'), 'user.other')).toBe('error: ENODATA');
    expect(await xattr(S.m('k/f5'), 'user.color')).toBe('error: ENODATA');
    expect((await run('setfattr', ['-n', 'user.color', '-v', 'red', S.m('k/f5')])).code).toBe(0);
    await fsp.readdir(S.m('k'));
    forgetDentries();
    expect(await xattr(S.m('k/f5'), 'user.color')).toBe('red');
    const names = await run('getfattr', ['-d', '-h', '-m', '-', S.m('k/f5')]);
    expect(names.stdout).toContain('user.color="red"');
    expect(names.stdout).not.toContain('overlay');
  });

  it('changes through the mount show in later lookups, listings and readlink', async () => {
    await fsp.readdir(S.m('k'));
    await fsp.readlink(S.m('k/ln'));
    const script = [
      'cd "$1"',
      'echo more >> k/f1',                  // copy-up, size 1 -> 6
      'chmod 600 k/f6',                     // metadata copy-up
      'rm k/ln && ln -s f7 k/ln',           // a new target
      'mv k/f8 k/g8',                       // a rename within the directory
      'mv k/f9 k/sub/f9',                   // and into another
      'rm k/f10',                           // a whiteout
      'touch k/new',
    ].join('\n');
    const r = await run('bash', ['-c', script, 'x', S.L.mnt]);
    expect(r.stderr).toBe('');
    forgetDentries();
    const got = await listing(S.m('k'));
    expect(got).toContain('f1 6 644 f ');
    expect(got).toContain('f6 6 600 f ');
    expect(got).toContain('ln 2 777 l f7');
    expect(got).toContain('g8 8 644 f ');
    expect(got).toContain('new 0 644 f ');
    expect(got.filter((l) => /^(f8|f9|f10) /.test(l))).toEqual([]);
    expect(await fsp.readlink(S.m('k/ln'))).toBe('f7');
    expect(await listing(S.m('k/sub'))).toEqual(['f9 9 644 f ']);
    // a created file's xattr names come with its creation: none, then one set through the mount
    const created = S.m('k/made');
    await fsp.writeFile(created, 'x');
    expect(await xattr(created, 'user.tag')).toBe('error: ENODATA');
    await fsp.appendFile(created, 'y');
    expect((await run('setfattr', ['-n', 'user.tag', '-v', 'on', created])).code).toBe(0);
    expect(await xattr(created, 'user.tag')).toBe('on');
    expect((await run('getfattr', ['-d', '-h', created])).stdout).toContain('user.tag="on"');
    // the kernel's listing cache follows changes made through the mount
    await fsp.writeFile(S.m('k/late'), '');
    expect(await fsp.readdir(S.m('k'))).toContain('late');
    await fsp.unlink(S.m('k/late'));
    expect(await fsp.readdir(S.m('k'))).not.toContain('late');
  });

  it.runIf(binding === 'ufs-ll')('answered lookups, xattrs and readlinks in C (the binding counters)', async () => {
    expect((await ufsmount(['-u', S.L.mnt])).code).toBe(0);
    const s = await bindingCounters(stats);
    const [lookupC, lookupJs] = s.ops.LOOKUP!;
    // the walks after a listing: each entry came with its attributes (READDIRPLUS) or was looked up in C
    expect(s.plusEntries + lookupC).toBeGreaterThan(FILES);
    expect(lookupJs).toBeLessThan(s.plusEntries + lookupC);
    expect(s.listingsC).toBeGreaterThan(0);              // k, before the changes copied it up
    expect(s.ops.GETXATTR![0]).toBeGreaterThan(0);        // ENODATA from the kept names
    expect(s.ops.READLINK![0] + s.ops.READLINK![1]).toBeGreaterThan(0);
  });
});
