// The binding's attribute and listing cache (lib/fuse/native/ufs_fuse.c): once every name has been
// stat'ed and listed (so answers sit in the cache), each kind of change made through the mount shows
// at once through every name, including another hard link to the same file, and through listings.
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { canMount, cleanupAll, fullBinding, run, mountLayersForSuite } from './helpers.js';

afterAll(cleanupAll);

/** Stats and lists everything under `dir`, twice, so the second answers come from the cache. */
async function warm(dir: string): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const walk = async (d: string): Promise<void> => {
      for (const e of await fsp.readdir(d, { withFileTypes: true })) {
        await fsp.lstat(path.join(d, e.name));
        if (e.isDirectory()) await walk(path.join(d, e.name));
      }
    };
    await walk(dir);
  }
}

describe.skipIf(!canMount || !fullBinding)('attribute cache of the ufs binding (needs root, /dev/fuse and the binding)', () => {
  const mount = mountLayersForSuite();
  const m = mount.m;

  it('shows changes through one hard link on the other at once', async () => {
    await fsp.writeFile(m('hl-a'), 'one');
    await fsp.link(m('hl-a'), m('hl-b'));
    await warm(mount.L.mnt);
    expect((await fsp.stat(m('hl-b'))).nlink).toBe(2);
    await fsp.chmod(m('hl-a'), 0o600);
    expect((await fsp.stat(m('hl-b'))).mode & 0o777).toBe(0o600);
    await fsp.appendFile(m('hl-a'), '-two');
    expect((await fsp.stat(m('hl-b'))).size).toBe(7);
    await fsp.unlink(m('hl-a'));
    expect((await fsp.stat(m('hl-b'))).nlink).toBe(1);
  });

  it('shows writes, truncation, times and owners at once after the cache was filled', async () => {
    await warm(mount.L.mnt);
    const before = await fsp.stat(m('lower.txt'));
    const fd = fs.openSync(m('lower.txt'), 'r+');
    fs.writeSync(fd, Buffer.from('0123456789abcdef'), 0, 16, 100);
    expect(fs.fstatSync(fd).size).toBe(116);
    expect((await fsp.stat(m('lower.txt'))).size).toBe(116);
    fs.closeSync(fd);
    await fsp.truncate(m('lower.txt'), 3);
    expect((await fsp.stat(m('lower.txt'))).size).toBe(3);
    await fsp.utimes(m('lower.txt'), 1000, 2000);
    expect((await fsp.stat(m('lower.txt'))).mtimeMs).toBe(2_000_000);
    await fsp.lchown(m('lower.txt'), 123, 456);
    const after = await fsp.stat(m('lower.txt'));
    expect([after.uid, after.gid]).toEqual([123, 456]);
    expect(after.ino).toBe(before.ino);
  });

  it('shows created, removed and renamed names in listings and lookups at once', async () => {
    await warm(mount.L.mnt);
    expect(await fsp.readdir(m('dir'))).not.toContain('new');
    await fsp.writeFile(m('dir/new'), 'n');
    expect(await fsp.readdir(m('dir'))).toContain('new');
    await fsp.rename(m('dir/sub'), m('dir/moved'));
    const names = await fsp.readdir(m('dir'));
    expect(names).toContain('moved');
    expect(names).not.toContain('sub');
    expect(await fsp.readdir(m('dir/moved'))).toEqual(['b']);
    await fsp.rm(m('dir/moved'), { recursive: true });
    await expect(fsp.lstat(m('dir/moved'))).rejects.toMatchObject({ code: 'ENOENT' });
    await fsp.mkdir(m('dir/moved'));
    expect((await fsp.lstat(m('dir/moved'))).isDirectory()).toBe(true);
    expect(await fsp.readdir(m('dir/moved'))).toEqual([]);
  });

  it('shows names that did not exist and extended attributes at once after asking for them', async () => {
    await warm(mount.L.mnt);
    for (let i = 0; i < 2; i++) await expect(fsp.lstat(m('dir/late'))).rejects.toMatchObject({ code: 'ENOENT' });
    await fsp.writeFile(m('dir/late'), 'x');
    expect((await fsp.lstat(m('dir/late'))).size).toBe(1);
    const xattr = async (args: string[]): Promise<string> => (await run('getfattr', args)).stdout;
    expect(await xattr(['-n', 'user.k', m('dir/late')])).toBe('');
    expect((await run('setfattr', ['-n', 'user.k', '-v', 'one', m('dir/late')])).code).toBe(0);
    expect(await xattr(['--only-values', '-n', 'user.k', m('dir/late')])).toBe('one');
    expect((await run('setfattr', ['-n', 'user.k', '-v', 'three', m('dir/late')])).code).toBe(0);
    expect(await xattr(['--only-values', '-n', 'user.k', m('dir/late')])).toBe('three');
    expect(await xattr(['-d', '--absolute-names', m('dir/late')])).toContain('user.k="three"');
    expect((await run('setfattr', ['-x', 'user.k', m('dir/late')])).code).toBe(0);
    expect(await xattr(['-d', '--absolute-names', m('dir/late')])).not.toContain('user.k');
  });
});
