// Overlay semantics of UnionFs on real layer directories, in both whiteout formats: lookup through
// whiteouts/opaque dirs, copy-up, deletes, rename of lower directories, hard links, inode numbers.
import { afterAll, describe, expect, it } from 'vitest';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { UnionFs } from '../../lib/index.js';
import { native } from '../../lib/native.js';
import { cleanupTemps, isRoot, readTree, tempDir, writeLayer, type Spec } from '../helpers/tmp.js';

afterAll(cleanupTemps);

const canOverlay = isRoot && native() !== null;
const formats = [
  { name: 'aufs' as const, skip: false },
  { name: 'overlay' as const, skip: !canOverlay },
];

const bottom: Spec = {
  'etc/hostname': 'bottom\n',
  'etc/passwd': 'root:x:0:0\n',
  'bin/sh': '#!sh',
  'data/keep': 'k',
  'data/old/x': 'x',
  'gone/a': 'a',
  'dir2file/inner': 'i',
  'var/log/syslog': 'log',
};
const middle: Spec = {
  'etc/hostname': 'middle\n',
  gone: { whiteout: true },
  dir2file: 'now a file',
  'data/new': 'n',
  'var/log': { dir: true, opaque: true },
  'var/log/fresh': 'f',
  'link-abs': { link: '/etc/passwd' },
  'link-escape': { link: '../../../../../../etc/shadow' },
};

async function stack(format: 'aufs' | 'overlay', opts: { upper?: boolean } = {}) {
  const root = await tempDir();
  const l1 = path.join(root, 'l1');
  const l2 = path.join(root, 'l2');
  await writeLayer(l2, bottom, format);
  await writeLayer(l1, middle, format);
  const upper = path.join(root, 'u');
  const work = path.join(root, 'w');
  await fsp.mkdir(upper);
  await fsp.mkdir(work);
  const u = await UnionFs.open({
    lowerdir: [l1, l2],
    ...(opts.upper === false ? {} : { upperdir: upper, workdir: work }),
    whiteout: format,
  });
  return { u, root, l1, l2, upper, work };
}

for (const f of formats) {
  describe.skipIf(f.skip)(`union semantics (${f.name} whiteouts)${f.skip ? ' — skipped: needs root and the native addon' : ''}`, () => {
    it('looks up through layers: top wins, whiteouts and opaque dirs hide, a file hides a lower dir', async () => {
      const { u } = await stack(f.name);
      expect(await u.readFile('/etc/hostname', 'utf8')).toBe('middle\n');
      expect(await u.readFile('/etc/passwd', 'utf8')).toBe('root:x:0:0\n');
      await expect(u.stat('/gone')).rejects.toMatchObject({ code: 'ENOENT', path: '/gone', syscall: 'stat' });
      expect(await u.readdir('/var/log')).toEqual(['fresh']);
      expect((await u.stat('/dir2file')).isFile()).toBe(true);
      await expect(u.stat('/dir2file/inner')).rejects.toMatchObject({ code: 'ENOTDIR' });
      expect((await u.readdir('/data')).sort()).toEqual(['keep', 'new', 'old']);
      expect((await u.readdir('/')).sort()).toEqual(['bin', 'data', 'dir2file', 'etc', 'link-abs', 'link-escape', 'var']);
    });

    it('readdir withFileTypes gives the merged types', async () => {
      const { u } = await stack(f.name);
      const ents = await u.readdir('/', { withFileTypes: true });
      const types = Object.fromEntries(ents.map((d) => [d.name, d.isDirectory() ? 'd' : d.isSymbolicLink() ? 'l' : 'f']));
      expect(types).toEqual({ bin: 'd', data: 'd', dir2file: 'f', etc: 'd', 'link-abs': 'l', 'link-escape': 'l', var: 'd' });
    });

    it('resolves symlinks inside the union only', async () => {
      const { u } = await stack(f.name);
      expect(await u.readFile('/link-abs', 'utf8')).toBe('root:x:0:0\n');
      // '..' past the root stays at the union root: /etc/shadow is not in the union.
      await expect(u.readFile('/link-escape')).rejects.toMatchObject({ code: 'ENOENT' });
      expect(await u.realpath('/link-abs')).toBe('/etc/passwd');
      expect(await u.readFile('/../../etc/hostname', 'utf8')).toBe('middle\n');
    });

    it('read-only without an upper layer', async () => {
      const { u } = await stack(f.name, { upper: false });
      await expect(u.writeFile('/etc/hostname', 'x')).rejects.toMatchObject({ code: 'EROFS' });
      await expect(u.unlink('/etc/passwd')).rejects.toMatchObject({ code: 'EROFS' });
      await expect(u.mkdir('/new')).rejects.toMatchObject({ code: 'EROFS' });
      expect(await u.readFile('/etc/hostname', 'utf8')).toBe('middle\n');
    });

    it('copies up on the first write, parents first, leaving the lower layer and no temp files', async () => {
      const { u, l2, upper, work } = await stack(f.name);
      await fsp.chmod(path.join(l2, 'var/log'), 0o750);
      await u.appendFile('/etc/passwd', 'me:x:1000:1000\n');
      expect(await u.readFile('/etc/passwd', 'utf8')).toBe('root:x:0:0\nme:x:1000:1000\n');
      expect(await fsp.readFile(path.join(l2, 'etc/passwd'), 'utf8')).toBe('root:x:0:0\n');
      expect(await fsp.readFile(path.join(upper, 'etc/passwd'), 'utf8')).toBe('root:x:0:0\nme:x:1000:1000\n');
      await u.writeFile('/var/log/fresh', 'again');
      expect((await fsp.stat(path.join(upper, 'var/log'))).mode & 0o777).toBe((await u.stat('/var/log')).mode & 0o777);
      expect(await fsp.readdir(path.join(work, 'work'))).toEqual([]);
    });

    it('chmod/chown/utimes of a lower file copy it up and keep its data', async () => {
      const { u, upper } = await stack(f.name);
      await u.chmod('/bin/sh', 0o755);
      expect((await u.stat('/bin/sh')).mode & 0o777).toBe(0o755);
      expect(await fsp.readFile(path.join(upper, 'bin/sh'), 'utf8')).toBe('#!sh');
      const t = new Date('2020-01-02T03:04:05Z');
      await u.utimes('/data/keep', t, t);
      expect((await u.stat('/data/keep')).mtime.getTime()).toBe(t.getTime());
    });

    it('deletes leave a whiteout only where a lower layer has the name', async () => {
      const { u, upper } = await stack(f.name);
      await u.unlink('/etc/hostname');
      await expect(u.stat('/etc/hostname')).rejects.toMatchObject({ code: 'ENOENT' });
      await u.writeFile('/etc/newfile', 'n');
      await u.unlink('/etc/newfile');
      const names = await fsp.readdir(path.join(upper, 'etc'));
      if (f.name === 'aufs') expect(names.sort()).toEqual(['.wh.hostname']);
      else {
        expect(names).toEqual(['hostname']);
        const st = await fsp.lstat(path.join(upper, 'etc/hostname'));
        expect(st.isCharacterDevice() && st.rdev === 0).toBe(true);
      }
      // A name deleted and created again is a fresh file.
      await u.writeFile('/etc/hostname', 'fresh');
      expect(await u.readFile('/etc/hostname', 'utf8')).toBe('fresh');
    });

    it('rmdir of a merged directory works only when its merged view is empty', async () => {
      const { u } = await stack(f.name);
      await expect(u.rmdir('/data')).rejects.toMatchObject({ code: 'ENOTEMPTY' });
      await u.rm('/data', { recursive: true });
      await expect(u.stat('/data')).rejects.toMatchObject({ code: 'ENOENT' });
      await u.mkdir('/data');
      expect(await u.readdir('/data')).toEqual([]);
    });

    it('renames a lower directory (no EXDEV) and keeps its whole tree', async () => {
      const { u } = await stack(f.name);
      const before = await readTree(u as never, '/data');
      await u.rename('/data', '/moved');
      expect(await readTree(u as never, '/moved')).toEqual(before);
      await expect(u.stat('/data')).rejects.toMatchObject({ code: 'ENOENT' });
      await u.mkdir('/data');
      expect(await u.readdir('/data')).toEqual([]);
    });

    it('rename follows POSIX errors', async () => {
      const { u } = await stack(f.name);
      await expect(u.rename('/etc', '/etc/sub')).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(u.rename('/etc', '/dir2file')).rejects.toMatchObject({ code: 'ENOTDIR' });
      await expect(u.rename('/dir2file', '/etc')).rejects.toMatchObject({ code: 'EISDIR' });
      await expect(u.rename('/bin', '/data')).rejects.toMatchObject({ code: 'ENOTEMPTY' });
      await expect(u.rename('/nope', '/x')).rejects.toMatchObject({ code: 'ENOENT' });
      await u.rename('/etc/hostname', '/etc/passwd');
      expect(await u.readFile('/etc/passwd', 'utf8')).toBe('middle\n');
      await expect(u.stat('/etc/hostname')).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('a hard link to a lower file copies it up once: both names are one inode', async () => {
      const { u } = await stack(f.name);
      await u.link('/etc/passwd', '/etc/passwd2');
      const [a, b] = await Promise.all([u.stat('/etc/passwd'), u.stat('/etc/passwd2')]);
      expect(a.ino).toBe(b.ino);
      expect(a.nlink).toBe(2);
      await u.appendFile('/etc/passwd2', 'more\n');
      expect(await u.readFile('/etc/passwd', 'utf8')).toBe('root:x:0:0\nmore\n');
    });

    it('inode numbers are stable across copy-up and reopening; st_dev is one value', async () => {
      const { u, l1, l2, upper, work } = await stack(f.name);
      const before = await u.stat('/etc/passwd');
      await u.appendFile('/etc/passwd', 'x');
      const after = await u.stat('/etc/passwd');
      expect(after.ino).toBe(before.ino);
      await u.close();
      const again = await UnionFs.open({ lowerdir: [l1, l2], upperdir: upper, workdir: work, whiteout: f.name });
      expect((await again.stat('/etc/passwd')).ino).toBe(before.ino);
      const devs = new Set((await Promise.all(['/', '/etc/passwd', '/bin/sh', '/var/log/fresh'].map((p) => again.stat(p)))).map((s) => s.dev));
      expect(devs.size).toBe(1);
    });

    it('onCopyUp reports each object copied up (parents first), and stops when told', async () => {
      const { u } = await stack(f.name);
      const seen: string[] = [];
      const stop = u.onCopyUp((p) => seen.push(p));
      await u.appendFile('/var/log/fresh', 'x');           // a lower directory chain and a file
      await u.chmod('/etc/passwd', 0o600);                  // metadata copy-up
      await u.writeFile('/etc/passwd', 'again');            // upper already: nothing copied
      await u.writeFile('/data/brand-new', 'n');            // a create: only its directory
      expect(seen).toEqual(['/var', '/var/log', '/var/log/fresh', '/etc', '/etc/passwd', '/data']);
      stop();
      await u.appendFile('/bin/sh', 'x');
      expect(seen).toHaveLength(6);
    });

    it('refuses 0/0 character devices and reserved names', async () => {
      const { u } = await stack(f.name);
      await expect(u.mknod('/etc/wh', 0o020000 | 0o644, 0)).rejects.toMatchObject({ code: 'EPERM' });
      if (f.name === 'aufs') await expect(u.writeFile('/etc/.wh.passwd', '')).rejects.toMatchObject({ code: 'EPERM' });
      await u.mkfifo('/etc/fifo');
      expect((await u.lstat('/etc/fifo')).isFIFO()).toBe(true);
    });

    it('checks paths like node:fs: NUL bytes, long names', async () => {
      const { u } = await stack(f.name);
      await expect(u.stat('/etc/\0x')).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
      await expect(u.writeFile('/' + 'n'.repeat(256), 'x')).rejects.toMatchObject({ code: 'ENAMETOOLONG' });
      await u.writeFile('/' + 'n'.repeat(255), 'x');
      expect(await u.readFile('/' + 'n'.repeat(255), 'utf8')).toBe('x');
    });

    it('concurrent writers copy a file up once and corrupt nothing', async () => {
      const { u, work } = await stack(f.name);
      await Promise.all(Array.from({ length: 20 }, (_, i) => u.appendFile('/data/keep', `${i};`)));
      const text = (await u.readFile('/data/keep', 'utf8')) as string;
      expect(text.startsWith('k')).toBe(true);
      expect(text.slice(1).split(';').filter(Boolean).sort((a, b) => +a - +b)).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
      expect(await fsp.readdir(path.join(work, 'work'))).toEqual([]);
    });

    it('errors name union paths, never layer paths', async () => {
      const { u, root } = await stack(f.name);
      for (const op of [() => u.readFile('/nope'), () => u.unlink('/nope/x'), () => u.rmdir('/etc'), () => u.open('/etc', 'w')]) {
        const e = (await op().then(() => null, (x: unknown) => x)) as Error | null;
        expect(e).toBeInstanceOf(Error);
        expect(e!.message).not.toContain(root);
      }
    });

    it('an open read handle sees the data after another writer copies the file up', async () => {
      const { u } = await stack(f.name);
      const r = await u.open('/etc/passwd', 'r');
      await u.writeFile('/etc/passwd', 'new contents');
      const b = Buffer.alloc(64);
      const { bytesRead } = await r.read(b, 0, 64, 0);
      expect(b.subarray(0, bytesRead).toString()).toBe('new contents');
      await r.close();
    });
  });
}

describe.skipIf(!canOverlay)(`the kernel reads what ufs writes${canOverlay ? '' : ' — skipped: needs root and the native addon'}`, () => {
  it('the upper layer ufs leaves behind, mounted by the kernel as a lower layer, shows the same tree', async () => {
    const { u, l1, l2, upper, root } = await stack('overlay');
    await u.writeFile('/etc/hostname', 'changed');
    await u.unlink('/etc/passwd');
    await u.rm('/data', { recursive: true });
    await u.mkdir('/data');
    await u.writeFile('/data/only', 'o');
    await u.rename('/var', '/var2');
    await u.symlink('/bin/sh', '/sh');
    await u.link('/bin/sh', '/bin/sh2');
    const ours = await readTree(u as never, '/');
    await u.close();
    const mnt = path.join(root, 'mnt');
    await fsp.mkdir(mnt);
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${upper}:${l1}:${l2}`, mnt]);
    try {
      const kernel = await readTree(
        {
          readdir: (p) => fsp.readdir(path.join(mnt, p)),
          lstat: (p) => fsp.lstat(path.join(mnt, p)),
          readFile: (p) => fsp.readFile(path.join(mnt, p)),
          readlink: (p) => fsp.readlink(path.join(mnt, p)),
        },
        '/',
      );
      expect(kernel).toEqual(ours);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});

describe('layers made by real tools', () => {
  it('a union over layers extracted by GNU tar reads like the tarballs', async () => {
    const root = await tempDir();
    const src1 = path.join(root, 's1');
    const src2 = path.join(root, 's2');
    await writeLayer(src1, { 'usr/bin/tool': 'v1', 'usr/share/doc/readme': 'r', 'etc/conf': 'c1' }, 'aufs');
    await writeLayer(src2, { 'usr/bin/tool': 'v2', 'etc/conf': { whiteout: true }, 'opt/x': 'x' }, 'aufs');
    const layers: string[] = [];
    for (const [i, s] of [src1, src2].entries()) {
      const tarball = path.join(root, `layer${i}.tar.gz`);
      execFileSync('tar', ['-czf', tarball, '-C', s, '.']);
      const l = path.join(root, `layer${i}`);
      await fsp.mkdir(l);
      execFileSync('tar', ['-xzf', tarball, '-C', l]);
      layers.unshift(l);
    }
    const u = await UnionFs.open({ lowerdir: layers });
    expect(u.whiteout).toBe('aufs');
    expect(await u.readFile('/usr/bin/tool', 'utf8')).toBe('v2');
    await expect(u.stat('/etc/conf')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(Object.keys(await readTree(u as never, '/')).sort()).toEqual(
      ['etc', 'opt', 'opt/x', 'usr', 'usr/bin', 'usr/bin/tool', 'usr/share', 'usr/share/doc', 'usr/share/doc/readme'].sort(),
    );
  });
});

describe('volumes', () => {
  it('paths under a volume read and write the host directory, bypassing the layers', async () => {
    const { root, l1, l2, upper, work } = await stack('aufs');
    const host = path.join(root, 'host');
    await fsp.mkdir(host);
    await fsp.writeFile(path.join(host, 'existing'), 'from host');
    const u = await UnionFs.open({ lowerdir: [l1, l2], upperdir: upper, workdir: work, whiteout: 'aufs', volumes: [{ hostdir: host, path: '/data' }] });
    // The volume hides the layers' /data.
    expect((await u.readdir('/data')).sort()).toEqual(['existing']);
    await u.writeFile('/data/new', 'kept');
    await u.mkdir('/data/sub/deep', { recursive: true });
    await u.rename('/data/new', '/data/sub/renamed');
    expect(await fsp.readFile(path.join(host, 'sub/renamed'), 'utf8')).toBe('kept');
    expect(await u.realpath('/data/sub')).toBe('/data/sub');
    // Nothing of it is in the container layer.
    expect(await fsp.readdir(path.join(upper, 'data')).catch(() => [])).toEqual([]);
    await expect(u.rename('/data/existing', '/etc/x')).rejects.toMatchObject({ code: 'EXDEV' });
    await u.copyFile('/data/existing', '/etc/copied');
    expect(await u.readFile('/etc/copied', 'utf8')).toBe('from host');
    await expect(u.readFile('/data/missing')).rejects.toMatchObject({ code: 'ENOENT', path: '/data/missing' });
    await u.close();
  });

  it('a read-only volume refuses writes', async () => {
    const { root, l1, l2 } = await stack('aufs');
    const host = path.join(root, 'ro');
    await fsp.mkdir(host);
    const u = await UnionFs.open({ lowerdir: [l1, l2], volumes: [{ hostdir: host, path: '/mnt/ro', readonly: true }] });
    await expect(u.writeFile('/mnt/ro/x', 'y')).rejects.toMatchObject({ code: 'EROFS' });
    expect(await u.readdir('/mnt/ro')).toEqual([]);
  });
});

describe('hard links inside a lower layer', () => {
  it('stay one inode when one of their names is copied up; hidden names are left alone', async () => {
    const root = await tempDir();
    const low = path.join(root, 'low');
    const top = path.join(root, 'top');
    await writeLayer(low, { 'a/one': 'shared', 'b/two': 'x', 'c/three': 'x' }, 'aufs');
    await fsp.rm(path.join(low, 'b/two'));
    await fsp.link(path.join(low, 'a/one'), path.join(low, 'b/two'));
    await fsp.rm(path.join(low, 'c/three'));
    await fsp.link(path.join(low, 'a/one'), path.join(low, 'c/three'));
    await writeLayer(top, { 'c/three': { whiteout: true } }, 'aufs');
    const upper = path.join(root, 'u');
    await fsp.mkdir(upper);
    const u = await UnionFs.open({ lowerdir: [top, low], upperdir: upper, whiteout: 'aufs' });
    expect((await u.stat('/a/one')).nlink).toBe(3);
    await u.appendFile('/a/one', '+more');
    expect(await u.readFile('/b/two', 'utf8')).toBe('shared+more');
    const [s1, s2] = await Promise.all([u.stat('/a/one'), u.stat('/b/two')]);
    expect(s1.ino).toBe(s2.ino);
    expect(s1.nlink).toBe(2);
    await expect(u.stat('/c/three')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await fsp.readFile(path.join(low, 'a/one'), 'utf8')).toBe('shared');
  });
});

describe.skipIf(!canOverlay)(`metacopy (overlay format)${canOverlay ? '' : ' — skipped: needs root and the native addon'}`, () => {
  it('metadata changes copy no data; the first data change brings it up; the kernel reads the result', async () => {
    const root = await tempDir();
    const low = path.join(root, 'low');
    await writeLayer(low, { 'big/file': 'x'.repeat(100_000), 'big/other': 'o', 'meta/only': 'still lower data' }, 'overlay');
    const upper = path.join(root, 'u');
    const work = path.join(root, 'w');
    await fsp.mkdir(upper);
    await fsp.mkdir(work);
    const u = await UnionFs.open({ lowerdir: [low], upperdir: upper, workdir: work, whiteout: 'overlay', metacopy: true });
    const ino = (await u.stat('/big/file')).ino;
    await u.chmod('/big/file', 0o600);
    await u.chmod('/big/other', 0o640);
    const real = await fsp.stat(path.join(upper, 'big/file'));
    expect(real.size).toBe(100_000);
    expect(real.blocks).toBe(0);
    expect(execFileSync('getfattr', ['--absolute-names', '-d', '-m', 'trusted.overlay.metacopy', path.join(upper, 'big/file')], { encoding: 'utf8' })).toContain('metacopy');
    expect(await u.readFile('/big/file', 'utf8')).toBe('x'.repeat(100_000));
    const h = await u.open('/big/file', 'r');
    expect(((await h.stat()).mode & 0o777)).toBe(0o600);
    await u.appendFile('/big/file', 'y');
    const b = Buffer.alloc(10);
    expect((await h.read(b, 0, 10, 99_995)).bytesRead).toBe(6);
    expect(b.subarray(0, 6).toString()).toBe('xxxxxy');
    await h.close();
    expect((await u.stat('/big/file')).ino).toBe(ino);
    expect((await fsp.stat(path.join(upper, 'big/file'))).blocks).toBeGreaterThan(0);
    await u.rename('/big/other', '/big/moved');
    expect(await u.readFile('/big/moved', 'utf8')).toBe('o');
    // Left as metacopy for the kernel to read.
    await u.chown('/meta/only', 1234, 5678);
    expect((await fsp.stat(path.join(upper, 'meta/only'))).blocks).toBe(0);
    const ours = await readTree(u as never, '/');
    await u.close();
    const mnt = path.join(root, 'mnt');
    await fsp.mkdir(mnt);
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${upper}:${low},metacopy=on,redirect_dir=on`, mnt]);
    try {
      const fsl = {
        readdir: (p: string) => fsp.readdir(path.join(mnt, p)),
        lstat: (p: string) => fsp.lstat(path.join(mnt, p)),
        readFile: (p: string) => fsp.readFile(path.join(mnt, p)),
        readlink: (p: string) => fsp.readlink(path.join(mnt, p)),
      };
      expect(await readTree(fsl, '/')).toEqual(ours);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});
