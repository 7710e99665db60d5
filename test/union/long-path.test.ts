// Paths past PATH_MAX on disk: lib/long-path.ts on its own (a shortened path means the full one),
// and a union over long layer roots doing every kind of change at a union path of ~4090 bytes, in
// both whiteout formats, checked on disk by a child process that walks down with relative chdirs.
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { UnionFs } from '../../lib/index.js';
import { native } from '../../lib/native.js';
import { closeLongPaths, longPathDir, rmTree, shortPath } from '../../lib/long-path.js';
import { cleanupTemps, isRoot, tempDir } from '../helpers/tmp.js';

const made: string[] = [];
afterAll(async () => {
  // node's fs.rm cannot remove trees deeper than PATH_MAX: take them down first.
  for (const d of made) await rmTree(d);
  await cleanupTemps();
  // Test workers may end without an exit event: drop the link directory here.
  const links = longPathDir();
  closeLongPaths();
  if (links !== null) expect(fs.existsSync(links)).toBe(false);
});

async function longTemp(): Promise<string> {
  const t = await tempDir('ufs-lp-test-');
  made.push(t);
  return t;
}

const bytes = (s: string): number => Buffer.byteLength(s);
/** 20 nested 200-byte names: a union path of 4020 bytes, 4090 with a 69-byte leaf. */
const COMPS = Array.from({ length: 20 }, (_, i) => String(i).padStart(2, '0') + 'd'.repeat(198));
const DEEP = '/' + COMPS.join('/');
const leaf = (c: string): string => c.repeat(69);

interface Seen {
  type: string;
  mode: number;
  nlink: number;
  ino: number;
  data?: string;
  target?: string;
}

/**
 * What is on disk in `root`/`comps...`, read by a child process that chdirs one component at a time
 * (so no path it uses is long): each entry's type, mode, links, inode, content or link target.
 */
function inspect(root: string, comps: readonly string[]): Record<string, Seen> {
  const script = `
    const fs = require('fs');
    const [root, comps] = JSON.parse(process.argv[1]);
    process.chdir(root);
    for (const c of comps) process.chdir(c);
    const out = {};
    for (const n of fs.readdirSync('.')) {
      const st = fs.lstatSync(n);
      const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link'
        : st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'chr:' + st.rdev : 'other';
      const e = { type, mode: st.mode & 0o7777, nlink: st.nlink, ino: st.ino };
      if (st.isFile()) e.data = fs.readFileSync(n, 'utf8');
      if (st.isSymbolicLink()) e.target = fs.readlinkSync(n);
      out[n] = e;
    }
    process.stdout.write(JSON.stringify(out));`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script, JSON.stringify([root, comps])], { encoding: 'utf8' })) as Record<string, Seen>;
}

/** Makes `root`/`comps...` and writes `files` into its end, from a child process (relative chdirs). */
function makeDeep(root: string, comps: readonly string[], files: Record<string, string>): void {
  const script = `
    const fs = require('fs');
    const [root, comps, files] = JSON.parse(process.argv[1]);
    process.chdir(root);
    for (const c of comps) { if (!fs.existsSync(c)) fs.mkdirSync(c); process.chdir(c); }
    for (const [n, d] of Object.entries(files)) fs.writeFileSync(n, d);`;
  execFileSync(process.execPath, ['-e', script, JSON.stringify([root, comps, files])]);
}

/** Undoes the links of a shortened path: the path the kernel sees through it. */
function expand(p: string): string {
  const d = longPathDir();
  for (;;) {
    if (d === null || !p.startsWith(d + '/')) return p;
    const rest = p.slice(d.length + 1);
    const i = rest.indexOf('/');
    p = fs.readlinkSync(`${d}/${rest.slice(0, i)}`) + rest.slice(i);
  }
}

describe('shortPath', () => {
  it('returns paths that fit, and relative ones, as they are', () => {
    expect(shortPath('/a/b')).toBe('/a/b');
    const fits = '/' + 'x'.repeat(200) + ('/' + 'y'.repeat(200)).repeat(19); // 4020 bytes
    expect(shortPath(fits)).toBe(fits);
    const rel = ('z'.repeat(200) + '/').repeat(25);
    expect(shortPath(rel)).toBe(rel);
  });

  it('turns any long absolute path into one under PATH_MAX that the links expand back to', () => {
    const name = fc.oneof(
      fc.integer({ min: 1, max: 255 }).map((n) => 'n'.repeat(n)),
      fc.integer({ min: 1, max: 85 }).map((n) => '€'.repeat(n)),
    );
    fc.assert(
      fc.property(fc.array(name, { minLength: 20, maxLength: 120 }), (names) => {
        const p = '/' + names.join('/');
        const s = shortPath(p);
        expect(bytes(s)).toBeLessThanOrEqual(4095);
        expect(expand(s)).toBe(p);
        // The last component is never a link: l* calls act on the object itself.
        expect(s.endsWith('/' + names[names.length - 1])).toBe(true);
        if (bytes(p) <= 4095) expect(s).toBe(p);
      }),
      { numRuns: 200 },
    );
    const d = longPathDir()!;
    expect(fs.statSync(d).mode & 0o777).toBe(0o700);
  });

  it('means what the full path means, also after a directory of the prefix is renamed', async () => {
    const root = await longTemp();
    const comps = [...COMPS, 'e'.repeat(100)];
    makeDeep(root, comps, { f: 'one' });
    const full = `${root}/${comps.join('/')}/f`;
    expect(bytes(full)).toBeGreaterThan(4095);
    expect(() => fs.readFileSync(full)).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }));
    expect(await fsp.readFile(shortPath(full), 'utf8')).toBe('one');
    // Rename the third directory away and build a new one under the old name: the same path now
    // names the new file (the link resolves by name), and the old file is under the new name.
    const third = `${root}/${comps.slice(0, 3).join('/')}`;
    await fsp.rename(third, `${third}-moved`);
    await expect(fsp.readFile(shortPath(full))).rejects.toMatchObject({ code: 'ENOENT' });
    makeDeep(root, comps, { f: 'two' });
    expect(await fsp.readFile(shortPath(full), 'utf8')).toBe('two');
    const moved = [...comps.slice(0, 2), comps[2] + '-moved', ...comps.slice(3)];
    expect(inspect(root, moved).f?.data).toBe('one');
    // O_NOFOLLOW and lstat act on the last component even though the path goes through links.
    await fsp.symlink('f', shortPath(`${full}-link`));
    expect((await fsp.lstat(shortPath(`${full}-link`))).isSymbolicLink()).toBe(true);
    await expect(fsp.open(shortPath(`${full}-link`), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)).rejects.toMatchObject({ code: 'ELOOP' });
  });

  it('removes trees deeper than PATH_MAX (rmTree), where fs.rm cannot', async () => {
    const root = await longTemp();
    makeDeep(root, [...COMPS, ...COMPS.slice(0, 5)], { f: 'x' });
    await expect(fsp.rm(`${root}/${COMPS[0]}`, { recursive: true })).rejects.toMatchObject({ code: 'ENAMETOOLONG' });
    await rmTree(`${root}/${COMPS[0]}`);
    expect(await fsp.readdir(root)).toEqual([]);
  });
});

const canOverlay = isRoot && native() !== null;
const formats = [
  { name: 'aufs' as const, skip: false },
  { name: 'overlay' as const, skip: !canOverlay },
];

/** Layers whose roots are ~430 bytes long, so a 4090-byte union path is ~4520 bytes on disk. */
async function longStack(format: 'aufs' | 'overlay') {
  const base = await longTemp();
  const root = path.join(base, 'r'.repeat(200), 's'.repeat(200));
  const dirs = Object.fromEntries(['l1', 'l2', 'up', 'w'].map((n) => [n, path.join(root, n)])) as Record<'l1' | 'l2' | 'up' | 'w', string>;
  for (const d of Object.values(dirs)) await fsp.mkdir(d, { recursive: true });
  // The lower layers hold files at full depth; l1 also a directory to rename.
  makeDeep(dirs.l2, COMPS, { [leaf('a')]: 'lower a', [leaf('b')]: 'lower b' });
  makeDeep(dirs.l1, [...COMPS.slice(0, 19), 'mixed'], { [leaf('m')]: 'lower m' });
  const u = await UnionFs.open({ lowerdir: [dirs.l1, dirs.l2], upperdir: dirs.up, workdir: dirs.w, whiteout: format });
  return { u, ...dirs };
}

for (const f of formats) {
  describe.skipIf(f.skip)(`a union over long layer roots at a 4090-byte union path (${f.name} whiteouts)`, () => {
    it('creates, writes, reads, changes and removes at full depth; the upper layer shows it', async () => {
      const { u, ...d } = await longStack(f.name);
      const p = (name: string): string => `${DEEP}/${name}`;
      expect(bytes(p(leaf('c')))).toBe(4090);
      expect(bytes(`${d.up}${p(leaf('c'))}`)).toBeGreaterThan(4096);

      // create + write + read + chmod + truncate
      await u.writeFile(p(leaf('c')), 'created here');
      expect(await u.readFile(p(leaf('c')), 'utf8')).toBe('created here');
      await u.chmod(p(leaf('c')), 0o640);
      await u.truncate(p(leaf('c')), 7);
      const h = await u.open(p(leaf('c')), 'r+');
      await h.write('C', 0);
      await h.close();
      // mkdir / rmdir, symlink, hard link, fifo
      await u.mkdir(p(leaf('d')), { mode: 0o750 });
      await u.mkdir(p(leaf('e')));
      await u.rmdir(p(leaf('e')));
      await u.symlink(leaf('c'), p(leaf('s')));
      expect(await u.readlink(p(leaf('s')))).toBe(leaf('c'));
      expect(await u.readFile(p(leaf('s')), 'utf8')).toBe('Created');
      await u.link(p(leaf('c')), p(leaf('h')));
      if (native()) await u.mknod(p(leaf('q')), fs.constants.S_IFIFO | 0o600, 0);
      // rename within the deep directory, then unlink
      await u.writeFile(p(leaf('t')), 'temp');
      await u.rename(p(leaf('t')), p(leaf('r')));
      await u.unlink(p(leaf('r')));
      // xattrs
      if (native()) {
        await u.setxattr(p(leaf('c')), 'user.deep', Buffer.from('v'));
        expect((await u.getxattr(p(leaf('c')), 'user.deep')).toString()).toBe('v');
        expect(await u.listxattr(p(leaf('c')))).toContain('user.deep');
        await u.removexattr(p(leaf('c')), 'user.deep');
        expect(await u.listxattr(p(leaf('c')))).not.toContain('user.deep');
      }

      const st = await u.stat(p(leaf('c')));
      expect(st.mode & 0o777).toBe(0o640);
      expect(st.size).toBe(7);
      expect(st.nlink).toBe(2);
      const names = (await u.readdir(DEEP)).sort();
      expect(names).toEqual([leaf('a'), leaf('b'), leaf('c'), leaf('d'), leaf('h'), ...(native() ? [leaf('q')] : []), leaf('s')].sort());

      const disk = inspect(d.up, COMPS);
      expect(disk[leaf('c')]).toMatchObject({ type: 'file', mode: 0o640, nlink: 2, data: 'Created' });
      expect(disk[leaf('h')]?.ino).toBe(disk[leaf('c')]?.ino);
      expect(disk[leaf('d')]).toMatchObject({ type: 'dir', mode: 0o750 });
      expect(disk[leaf('s')]).toMatchObject({ type: 'link', target: leaf('c') });
      if (native()) expect(disk[leaf('q')]?.type).toBe('fifo');
      expect(disk[leaf('e')]).toBeUndefined();
      expect(disk[leaf('r')]).toBeUndefined();
      await u.close();
    });

    it('copies up, whites out and renames lower files and directories at full depth', async () => {
      const { u, ...d } = await longStack(f.name);
      const p = (name: string): string => `${DEEP}/${name}`;
      // copy-up by a write: the upper copy changes, the lower file does not
      await u.appendFile(p(leaf('a')), ' changed');
      expect(await u.readFile(p(leaf('a')), 'utf8')).toBe('lower a changed');
      expect(inspect(d.up, COMPS)[leaf('a')]?.data).toBe('lower a changed');
      expect(inspect(d.l2, COMPS)[leaf('a')]?.data).toBe('lower a');
      // copy-up by chmod keeps the data
      await u.chmod(p(leaf('b')), 0o600);
      expect(await u.readFile(p(leaf('b')), 'utf8')).toBe('lower b');
      // rename of a lower file: moved up, the old name whited out
      await u.rename(p(leaf('b')), p(leaf('n')));
      expect(await u.readFile(p(leaf('n')), 'utf8')).toBe('lower b');
      await expect(u.stat(p(leaf('b')))).rejects.toMatchObject({ code: 'ENOENT' });
      // unlink of a lower file leaves a whiteout
      await u.unlink(p(leaf('a')));
      await expect(u.stat(p(leaf('a')))).rejects.toMatchObject({ code: 'ENOENT' });
      expect((await u.readdir(DEEP)).sort()).toEqual([leaf('n')]);
      const disk = inspect(d.up, COMPS);
      if (f.name === 'overlay') {
        expect(disk[leaf('a')]?.type).toBe('chr:0');
        expect(disk[leaf('b')]?.type).toBe('chr:0');
      } else {
        expect(disk[`.wh.${leaf('a')}`]?.type).toBe('file');
        expect(disk[`.wh.${leaf('b')}`]?.type).toBe('file');
      }
      // a directory with lower parts renamed at depth: copied up whole under the new name
      const mixed = `/${COMPS.slice(0, 19).join('/')}/mixed`;
      await u.writeFile(`${mixed}/${leaf('u')}`, 'upper u');
      await u.rename(mixed, `${mixed}2`);
      expect((await u.readdir(`${mixed}2`)).sort()).toEqual([leaf('m'), leaf('u')].sort());
      expect(await u.readFile(`${mixed}2/${leaf('m')}`, 'utf8')).toBe('lower m');
      await expect(u.stat(mixed)).rejects.toMatchObject({ code: 'ENOENT' });
      expect(inspect(d.up, [...COMPS.slice(0, 19), 'mixed2'])[leaf('m')]?.data).toBe('lower m');
      // removing the whole deep tree through the union leaves nothing visible
      await u.rm(`/${COMPS[0]}`, { recursive: true });
      expect(await u.readdir('/')).toEqual([]);
      await u.close();
    });

    it('still gives ENAMETOOLONG for union paths of 4096 bytes and more; pathMax = Infinity lifts it', async () => {
      const { u, ...d } = await longStack(f.name);
      const tooLong = `${DEEP}/${'x'.repeat(75)}`; // 4096 bytes
      expect(bytes(tooLong)).toBe(4096);
      await expect(u.writeFile(tooLong, '')).rejects.toMatchObject({ code: 'ENAMETOOLONG' });
      await expect(u.stat(tooLong)).rejects.toMatchObject({ code: 'ENAMETOOLONG' });
      await expect(u.mkdir(tooLong)).rejects.toMatchObject({ code: 'ENAMETOOLONG' });
      // Behind FUSE a path runs from the mount root: longer than the kernel's limit for the caller.
      u.pathMax = Infinity;
      const deeper = `${DEEP}/${COMPS.join('/')}`; // 8040 bytes, ~8500 on disk
      await u.mkdir(deeper, { recursive: true });
      await u.writeFile(`${deeper}/${leaf('z')}`, 'very deep');
      await u.rename(`${deeper}/${leaf('z')}`, `${deeper}/${leaf('y')}`);
      expect(await u.readFile(`${deeper}/${leaf('y')}`, 'utf8')).toBe('very deep');
      expect(inspect(d.up, [...COMPS, ...COMPS])[leaf('y')]?.data).toBe('very deep');
      await u.close();
    });
  });
}

describe('volumes at long paths', () => {
  it('reach a host directory whose mapped path is past PATH_MAX', async () => {
    const base = await longTemp();
    const host = path.join(base, 'h'.repeat(200), 'o'.repeat(200));
    const lower = path.join(base, 'lower');
    await fsp.mkdir(host, { recursive: true });
    await fsp.mkdir(lower);
    for (const n of ['up', 'wk']) await fsp.mkdir(path.join(base, n));
    const u = await UnionFs.open({
      lowerdir: [lower], upperdir: path.join(base, 'up'), workdir: path.join(base, 'wk'), whiteout: 'aufs',
      volumes: [{ hostdir: host, path: '/vol' }],
    });
    const deep = `/vol/${COMPS.slice(0, 19).join('/')}`;
    await u.mkdir(deep, { recursive: true });
    await u.writeFile(`${deep}/${leaf('v')}`, 'on the host');
    expect(await u.readFile(`${deep}/${leaf('v')}`, 'utf8')).toBe('on the host');
    expect(inspect(host, COMPS.slice(0, 19))[leaf('v')]?.data).toBe('on the host');
    await u.rm(`/vol/${COMPS[0]}`, { recursive: true });
    expect(await fsp.readdir(host)).toEqual([]);
    await u.close();
  });
});
