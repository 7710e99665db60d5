// The conformance suite every storage driver runs (containers/storage's graphtest is the model):
// layers, read-write views, deep stacks, diff/changes/apply-diff round trips, whiteouts, commits, sizes, refusals.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import '../../lib/drivers/index.js';
import type { Driver, DriverOptions } from '../../lib/drivers/driver.js';
import { openDriver } from '../../lib/drivers/registry.js';
import { Store } from '../../lib/store/store.js';
import { createLayerTar } from '../../lib/layers/tar-create.js';
import { DirLayer } from '../../lib/layers/dir-layer.js';
import { aufsFormat } from '../../lib/layers/whiteout-aufs.js';
import { native } from '../../lib/native.js';
import type { View } from '../../lib/drivers/driver.js';

/** What the suite does to a view: the node:fs/promises calls it needs. */
export interface ViewFs {
  readonly readonly: boolean;
  readFile(p: string, enc: 'utf8'): Promise<string | Buffer>;
  writeFile(p: string, data: string): Promise<void>;
  unlink(p: string): Promise<void>;
  mkdir(p: string): Promise<unknown>;
  rename(a: string, b: string): Promise<void>;
  rm(p: string, o: { recursive: boolean }): Promise<void>;
  readdir(p: string, o?: { recursive: true }): Promise<unknown>;
  lstat(p: string): Promise<import('node:fs').Stats>;
  stat(p: string): Promise<import('node:fs').Stats>;
  readlink(p: string): Promise<string>;
  getxattr(p: string, name: string): Promise<Buffer>;
}

/** A view that is a directory on disk (vfs, kernel mounts), seen through node:fs. */
class PathFs implements ViewFs {
  constructor(private readonly root: string, readonly readonly: boolean) {}
  private r(p: string): string {
    return path.join(this.root, p);
  }
  readFile(p: string, enc: 'utf8') { return fs.readFile(this.r(p), enc); }
  writeFile(p: string, data: string) { return fs.writeFile(this.r(p), data); }
  unlink(p: string) { return fs.unlink(this.r(p)); }
  mkdir(p: string) { return fs.mkdir(this.r(p)); }
  rename(a: string, b: string) { return fs.rename(this.r(a), this.r(b)); }
  rm(p: string, o: { recursive: boolean }) { return fs.rm(this.r(p), o); }
  readdir(p: string, o?: { recursive: true }) { return fs.readdir(this.r(p), o ?? {}); }
  lstat(p: string) { return fs.lstat(this.r(p)); }
  stat(p: string) { return fs.stat(this.r(p)); }
  readlink(p: string) { return fs.readlink(this.r(p)); }
  async getxattr(p: string, name: string) {
    const n = native();
    if (!n) throw new Error('no native addon');
    return n.lgetxattr(this.r(p), name);
  }
}

/** The view as the suite uses it: its UnionFs, or its directory through node:fs. */
export function fsOf(v: View): ViewFs {
  return (v.fs as unknown as ViewFs | null) ?? new PathFs(v.path!, v.readonly);
}

export async function digestOf(r: Readable): Promise<string> {
  const h = createHash('sha256');
  for await (const c of r) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/** Entries of a tar stream, in order (names only). */
export async function tarNames(r: Readable): Promise<string[]> {
  const tar = (await import('tar-stream')).default;
  const ex = tar.extract();
  const names: string[] = [];
  ex.on('entry', (h, s, next) => {
    names.push(h.name);
    s.on('end', () => next());
    s.resume();
  });
  const done = new Promise<void>((res, rej) => {
    ex.on('finish', res);
    ex.on('error', rej);
  });
  r.pipe(ex);
  await done;
  return names;
}

/** A directory in the aufs layer format, described as { 'path': content | null (dir) | '->target' | 'wh' | 'opq' }. */
export async function makeDir(root: string, spec: Record<string, string | null>): Promise<string> {
  await fs.mkdir(root, { recursive: true });
  for (const [p, v] of Object.entries(spec)) {
    const full = path.join(root, p);
    await fs.mkdir(path.dirname(full), { recursive: true });
    if (v === null) await fs.mkdir(full, { recursive: true });
    else if (v === 'wh') await fs.writeFile(path.join(path.dirname(full), `.wh.${path.basename(full)}`), '');
    else if (v === 'opq') {
      await fs.mkdir(full, { recursive: true });
      await fs.writeFile(path.join(full, '.wh..wh..opq'), '');
    } else if (v.startsWith('->')) await fs.symlink(v.slice(2), full);
    else await fs.writeFile(full, v);
  }
  return root;
}

export function tarOf(dir: string): Readable {
  return createLayerTar(new DirLayer(dir), aufsFormat);
}

/** Every path of a view with a short description of what it is (content, link target, dir). */
export async function snapshot(u: ViewFs): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const names = (await u.readdir('/', { recursive: true })) as string[];
  for (const n of names.sort()) {
    const p = `/${n}`;
    const st = await u.lstat(p);
    if (st.isDirectory()) out[p] = `dir ${(st.mode & 0o7777).toString(8)}`;
    else if (st.isSymbolicLink()) out[p] = `-> ${await u.readlink(p)}`;
    else out[p] = `file ${(st.mode & 0o7777).toString(8)} ${String(await u.readFile(p, 'utf8'))}`;
  }
  return out;
}

export interface SuiteOptions {
  driverOptions?: DriverOptions;
  /** Why the driver cannot run here (the suite is skipped with this reason), or null. */
  skip?: string | null;
}

export function driverSuite(name: string, opts: SuiteOptions = {}): void {
  const skip = opts.skip ?? null;
  describe.skipIf(skip !== null)(`driver ${name}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let tmp: string;
    let d: Driver;
    let n = 0;
    const fresh = (): string => `l${++n}`;
    const view = async (id: string): Promise<ViewFs> => {
      const v = await d.get(id);
      expect(v.fs !== null || v.path !== null).toBe(true);
      return fsOf(v);
    };
    const release = async (id: string, _u: ViewFs): Promise<void> => {
      await d.put(id);
    };
    const layerFrom = async (parent: string | null, spec: Record<string, string | null>): Promise<string> => {
      const id = fresh();
      await d.create(id, parent);
      await d.applyDiff(id, parent, tarOf(await makeDir(path.join(tmp, 'src', id), spec)));
      return id;
    };

    beforeAll(async () => {
      tmp = await fs.mkdtemp(path.join(os.tmpdir(), `ufs-conf-${name}-`));
      d = await openDriver(name, path.join(tmp, 'home'), opts.driverOptions);
    });
    afterAll(async () => {
      await d?.cleanup();
      await fs.rm(tmp, { recursive: true, force: true });
    });

    it('creates, lists, describes and removes layers', async () => {
      const a = fresh();
      await d.create(a, null);
      expect(await d.exists(a)).toBe(true);
      expect(await d.list()).toContain(a);
      expect(await d.parent(a)).toBe(null);
      const b = fresh();
      await d.create(b, a);
      expect(await d.parent(b)).toBe(a);
      expect((await d.metadata(b)).Parent).toBe(a);
      await expect(d.create(b, a)).rejects.toMatchObject({ code: 'EEXIST' });
      await expect(d.create(fresh(), 'no-such-layer')).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(d.create('../evil', null)).rejects.toMatchObject({ code: 'EINVAL' });
      await d.remove(b);
      await d.remove(a);
      expect(await d.exists(a)).toBe(false);
      await expect(d.remove(a)).rejects.toMatchObject({ code: 'ENOENT' });
      expect(d.capabilities().whiteout).toMatch(/^(overlay|aufs|none)$/);
      expect((await d.status()).length).toBeGreaterThan(0);
    });

    it('gives a read-write view on a snapshot without touching the snapshot', async () => {
      const base = await layerFrom(null, { 'etc/hosts': 'localhost', 'etc/motd': 'hello', 'bin/sh': '#!', 'lnk': '->etc/hosts' });
      const rw = fresh();
      await d.createReadWrite(rw, base);
      await expect(d.create(fresh(), rw)).rejects.toMatchObject({ code: 'EINVAL' });
      const u = await view(rw);
      expect(u.readonly).toBe(false);
      expect(await u.readFile('/etc/hosts', 'utf8')).toBe('localhost');
      await u.writeFile('/etc/hosts', 'changed');
      await u.unlink('/etc/motd');
      await u.mkdir('/new');
      await u.writeFile('/new/file', 'n');
      await u.rename('/bin/sh', '/bin/bash');
      expect(await snapshot(u)).toMatchObject({ '/etc/hosts': 'file 644 changed', '/new/file': 'file 644 n', '/bin/bash': 'file 644 #!', '/lnk': '-> etc/hosts' });
      await expect(u.stat('/etc/motd')).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(d.remove(rw)).rejects.toMatchObject({ code: 'EBUSY' });
      await release(rw, u);
      const b = await view(base);
      expect(b.readonly).toBe(true);
      expect(await snapshot(b)).toEqual({
        '/bin': 'dir 755', '/bin/sh': 'file 644 #!', '/etc': 'dir 755', '/etc/hosts': 'file 644 localhost', '/etc/motd': 'file 644 hello', '/lnk': '-> etc/hosts',
      });
      await release(base, b);
      expect((await d.changes(rw, base)).sort((x, y) => x.path.localeCompare(y.path))).toEqual([
        { path: '/bin', kind: 'C' }, { path: '/bin/bash', kind: 'A' }, { path: '/bin/sh', kind: 'D' },
        { path: '/etc', kind: 'C' }, { path: '/etc/hosts', kind: 'C' }, { path: '/etc/motd', kind: 'D' },
        { path: '/new', kind: 'A' }, { path: '/new/file', kind: 'A' },
      ]);
      await d.remove(rw);
    });

    it('stacks 50 layers, each adding a file and deleting the one before', async () => {
      let parent: string | null = null;
      for (let i = 0; i < 50; i++) {
        const spec: Record<string, string | null> = { [`d/f${i}`]: String(i), [`keep/k${i}`]: 'k' };
        if (i > 0) spec[`d/f${i - 1}`] = 'wh';
        parent = await layerFrom(parent, spec);
      }
      const u = await view(parent!);
      expect(((await u.readdir('/d')) as string[]).sort()).toEqual(['f49']);
      expect(((await u.readdir('/keep')) as string[]).length).toBe(50);
      expect(await u.readFile('/d/f49', 'utf8')).toBe('49');
      await release(parent!, u);
      const rw = fresh();
      await d.createReadWrite(rw, parent);
      const w = await view(rw);
      await w.writeFile('/d/f0', 'back');
      expect(((await w.readdir('/d')) as string[]).sort()).toEqual(['f0', 'f49']);
      await release(rw, w);
      await d.remove(rw);
    });

    it('round-trips diff and apply-diff with identical digests, trees and changes', async () => {
      const base = await layerFrom(null, { 'a/x': 'x', 'a/y': 'y', 'b/z': 'z', 'c': 'c' });
      const src = await makeDir(path.join(tmp, 'src', 'rich'), {
        'a/y': 'wh', 'b': 'opq', 'b/new': 'n', 'c': 'wh', 'e/f/g': 'deep', 'e/link': '->f/g', 'empty': '', 'exec': '#!/bin/sh',
      });
      await fs.chmod(path.join(src, 'exec'), 0o755);
      await fs.link(path.join(src, 'e/f/g'), path.join(src, 'hard'));
      const n = native();
      if (n) await n.lsetxattr(path.join(src, 'empty'), 'user.test', Buffer.from('value'), 0);
      const l1 = fresh();
      await d.create(l1, base);
      await d.applyDiff(l1, base, tarOf(src));
      await expect(d.applyDiff(l1, base, tarOf(src))).rejects.toMatchObject({ code: 'EEXIST' });
      const first = await digestOf(await d.diff(l1, base));
      const names = await tarNames(await d.diff(l1, base));
      expect(names).toEqual(expect.arrayContaining(['a/.wh.y', 'b/.wh..wh..opq', '.wh.c', 'b/new', 'hard', 'e/f/g']));
      const l2 = fresh();
      await d.create(l2, base);
      const r = await d.applyDiff(l2, base, await d.diff(l1, base));
      expect(r.diffID).toBe(first);
      expect(await digestOf(await d.diff(l2, base))).toBe(first);
      expect(await d.changes(l2, base)).toEqual(await d.changes(l1, base));
      const v1 = await view(l1);
      const v2 = await view(l2);
      const s1 = await snapshot(v1);
      expect(s1).toEqual(await snapshot(v2));
      expect(s1).toMatchObject({ '/a/x': 'file 644 x', '/b/new': 'file 644 n', '/exec': 'file 755 #!/bin/sh', '/e/link': '-> f/g', '/hard': 'file 644 deep' });
      expect(s1['/a/y']).toBeUndefined();
      expect(s1['/b/z']).toBeUndefined();
      expect(s1['/c']).toBeUndefined();
      expect((await v2.stat('/hard')).ino).toBe((await v2.stat('/e/f/g')).ino);
      if (n) expect((await v2.getxattr('/empty', 'user.test')).toString()).toBe('value');
      await release(l1, v1);
      await release(l2, v2);
      const changes = await d.changes(l1, base);
      expect(changes).toEqual(expect.arrayContaining([
        { path: '/a/y', kind: 'D' }, { path: '/b/z', kind: 'D' }, { path: '/b/new', kind: 'A' }, { path: '/c', kind: 'D' },
        { path: '/e', kind: 'A' }, { path: '/exec', kind: 'A' },
      ]));
      // A base layer diffs the same with itself as parent or with none: the changes are all adds.
      expect((await d.changes(base, null)).every((c) => c.kind === 'A')).toBe(true);
    });

    it('diffs a read-write layer and applies it onto a fresh parent (whiteouts and opaque dirs survive)', async () => {
      const base = await layerFrom(null, { 'dir/old1': '1', 'dir/old2': '2', 'gone': 'g', 'keep': 'k' });
      const rw = fresh();
      await d.createReadWrite(rw, base);
      const u = await view(rw);
      await u.rm('/dir', { recursive: true });
      await u.mkdir('/dir');
      await u.writeFile('/dir/fresh', 'f');
      await u.unlink('/gone');
      await release(rw, u);
      const names = await tarNames(await d.diff(rw, base));
      expect(names).toContain('.wh.gone');
      const hidesOld = names.includes('dir/.wh..wh..opq') || (names.includes('dir/.wh.old1') && names.includes('dir/.wh.old2'));
      expect(hidesOld).toBe(true);
      const l = fresh();
      await d.create(l, base);
      const r = await d.applyDiff(l, base, await d.diff(rw, base));
      expect(await digestOf(await d.diff(l, base))).toBe(r.diffID);
      const v = await view(l);
      expect(await snapshot(v)).toEqual({ '/dir': 'dir 755', '/dir/fresh': 'file 644 f', '/keep': 'file 644 k' });
      await release(l, v);
      // A container on the committed layer sees it.
      const c2 = fresh();
      await d.createReadWrite(c2, l);
      const w = await view(c2);
      expect(await w.readFile('/dir/fresh', 'utf8')).toBe('f');
      await release(c2, w);
      await d.remove(c2);
      await d.remove(rw);
    });

    it('accounts sizes: file data once per inode, shrinking when files go', async () => {
      const src = await makeDir(path.join(tmp, 'src', 'sizes'), { a: 'x'.repeat(100), 'd/b': 'y'.repeat(200), c: 'z'.repeat(300) });
      await fs.link(path.join(src, 'c'), path.join(src, 'c2'));
      const l = fresh();
      await d.create(l, null);
      const r = await d.applyDiff(l, null, tarOf(src));
      expect(r.size).toBe(600);
      expect(await d.diffSize(l, null)).toBe(600);
      const rw = fresh();
      await d.createReadWrite(rw, l);
      expect(await d.diffSize(rw, l)).toBe(0);
      const u = await view(rw);
      await u.writeFile('/new', 'n'.repeat(50));
      await release(rw, u);
      expect(await d.diffSize(rw, l)).toBe(50);
      await d.remove(rw);
    });

    it('refuses to remove a layer while a view of it is out', async () => {
      const l = await layerFrom(null, { f: 'f' });
      const u = await view(l);
      await expect(d.remove(l)).rejects.toMatchObject({ code: 'EBUSY' });
      await release(l, u);
      await d.remove(l);
      await expect(d.put(l)).rejects.toMatchObject({ code: 'EINVAL' });
    });

    describe('in a store', () => {
      let st: Store;
      beforeAll(async () => {
        st = await Store.open({ root: path.join(tmp, 'store'), driver: name, ...(opts.driverOptions ? { driverOptions: opts.driverOptions } : {}) });
      });
      afterAll(async () => st?.close());

      it('commits a container into a new layer and image that a new container uses', async () => {
        const base = await st.createLayerFromDir(await makeDir(path.join(tmp, 'src', 'img'), { 'etc/os-release': 'ufs', 'usr/bin/tool': 't' }));
        const img = await st.createImage('conf/base:1', [base.chainID]);
        expect(img.layers).toEqual([base.chainID]);
        const c = await st.createContainer('conf/base:1', { name: 'work' });
        const v = fsOf(await st.mountContainer('work'));
        await v.writeFile('/etc/app.conf', 'on');
        await v.unlink('/usr/bin/tool');
        await st.unmountContainer('work');
        expect(await st.containerChanges('work')).toEqual([
          { path: '/etc', kind: 'C' }, { path: '/etc/app.conf', kind: 'A' }, { path: '/usr', kind: 'C' }, { path: '/usr/bin', kind: 'C' }, { path: '/usr/bin/tool', kind: 'D' },
        ]);
        const committed = await st.commit(c.id, 'conf/base:2');
        expect(committed.layers.length).toBe(2);
        expect(committed.layers[0]).toBe(base.chainID);
        const cfg = await st.imageConfig('conf/base:2');
        expect(cfg.rootfs.diff_ids.length).toBe(2);
        const top = await st.layer(committed.layers[1]!);
        expect(top.parent).toBe(base.chainID);
        expect(await digestOf(await st.layerTar(top.chainID))).toBe(top.diffID);
        const c2 = await st.createContainer('conf/base:2');
        const u2 = fsOf(await st.mountContainer(c2.id));
        expect(await u2.readFile('/etc/app.conf', 'utf8')).toBe('on');
        await expect(u2.stat('/usr/bin/tool')).rejects.toMatchObject({ code: 'ENOENT' });
        await st.unmountContainer(c2.id);
        // Refusals: an image in use, a layer with dependents.
        await expect(st.removeImage('conf/base:1')).rejects.toMatchObject({ code: 'EBUSY' });
        await expect(st.removeLayer(base.chainID)).rejects.toMatchObject({ code: 'EBUSY' });
        await st.removeContainer(c2.id);
        await st.removeContainer('work');
        const r = await st.removeImage('conf/base:2');
        expect(r.deleted).toBe(committed.id);
        expect(r.layersRemoved).toEqual([top.chainID]);
        expect(await st.check()).toMatchObject({ ok: true, leftovers: [], problems: [] });
      });

      it('maps volumes into a container, outside its diff and commits', async () => {
        const host = await makeDir(path.join(tmp, `vol-${name}`), { 'data.txt': 'host data' });
        const l = await st.createLayerFromDir(await makeDir(path.join(tmp, 'src', 'volimg'), { 'app/main': 'm' }));
        await st.createImage('conf/vol', [l.chainID]);
        const c = await st.createContainer('conf/vol', { name: 'vol', volumes: [{ hostdir: host, path: '/data' }] });
        expect(c.volumes).toEqual([{ hostdir: host, path: '/data' }]);
        const mv = await st.mountContainer('vol');
        // A vfs view's directory does not show volumes (its UnionFs does); kernel mounts bind them.
        const v = mv.fs ? (mv.fs as unknown as ViewFs) : fsOf(mv);
        expect(await v.readFile('/data/data.txt', 'utf8')).toBe('host data');
        await v.writeFile('/data/written', 'w');
        await v.writeFile('/app/other', 'o');
        await st.unmountContainer('vol');
        expect(await fs.readFile(path.join(host, 'written'), 'utf8')).toBe('w');
        const changes = await st.containerChanges('vol');
        // The mount point may be in the container layer (as with Docker); nothing below it is.
        expect(changes.some((x) => x.path.startsWith('/data/'))).toBe(false);
        expect(changes).toContainEqual({ path: '/app/other', kind: 'A' });
        await st.removeContainer('vol');
        expect(await fs.readFile(path.join(host, 'written'), 'utf8')).toBe('w');
      });
    });
  });
}
