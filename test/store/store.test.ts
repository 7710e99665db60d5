// The store's metadata rules: default roots, the recorded driver, content addressing (diffID,
// chainID, config digests), names and tags, refusals, atomic files and the lock.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Store } from '../../lib/store/store.js';
import { defaultRoot } from '../../lib/store/paths.js';
import { parseImageName } from '../../lib/store/refs.js';
import { acquireLock } from '../../lib/store/lock.js';
import { readBlob } from '../../lib/store/blobs.js';
import { createLayerTar } from '../../lib/layers/tar-create.js';
import { DirLayer } from '../../lib/layers/dir-layer.js';
import { aufsFormat } from '../../lib/layers/whiteout-aufs.js';
import { tmpdir, tree } from './helpers.js';

describe('store', () => {
  let tmp: string;
  let st: Store;
  beforeAll(async () => {
    tmp = await tmpdir('store');
    st = await Store.open({ root: path.join(tmp, 'root'), driver: 'aufs' });
  });
  afterAll(async () => {
    await st?.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('picks its default root from UFS_ROOT, root, XDG_DATA_HOME or HOME', () => {
    expect(defaultRoot({ UFS_ROOT: '/x/y' })).toBe('/x/y');
    if (process.getuid?.() === 0) expect(defaultRoot({})).toBe('/var/lib/ufs');
    else {
      expect(defaultRoot({ XDG_DATA_HOME: '/d' })).toBe('/d/ufs');
      expect(defaultRoot({})).toMatch(/\.local\/share\/ufs$/);
    }
  });

  it('records its driver and refuses to be opened with another', async () => {
    const meta = JSON.parse(await fs.readFile(path.join(st.root, 'meta.json'), 'utf8'));
    expect(meta.driver).toBe('aufs');
    await expect(Store.open({ root: st.root, driver: 'vfs' })).rejects.toThrow(/uses the 'aufs' driver, not 'vfs'.*migrate --to vfs/);
    const again = await Store.open({ root: st.root });
    expect(again.driver.name).toBe('aufs');
    await again.close();
    await expect(Store.open({ root: path.join(tmp, 'none'), create: false })).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(Store.open({ root: path.join(tmp, 'bad'), driver: 'nosuch' })).rejects.toThrow(/unknown storage driver 'nosuch'/);
  });

  it('addresses layers by diffID and chainID, and images by config digest', async () => {
    const a = await tree(path.join(tmp, 'a'), { 'a.txt': 'A' });
    const b = await tree(path.join(tmp, 'b'), { 'b.txt': 'B' });
    const la = await st.createLayerFromDir(a);
    const bytes: Buffer[] = [];
    for await (const c of createLayerTar(new DirLayer(a), aufsFormat)) bytes.push(c as Buffer);
    expect(la.diffID).toBe(`sha256:${createHash('sha256').update(Buffer.concat(bytes)).digest('hex')}`);
    expect(la.chainID).toBe(la.diffID);
    const lb = await st.createLayerFromDir(b, { parent: la.chainID });
    expect(lb.chainID).toBe(`sha256:${createHash('sha256').update(`${la.chainID} ${lb.diffID}`).digest('hex')}`);
    // The same content on the same parent is the same layer.
    const again = await st.createLayerFromDir(b, { parent: la.chainID });
    expect(again).toEqual(lb);
    expect((await st.driver.list()).length).toBe(2);
    const img = await st.createImage('app', [la.chainID, lb.chainID]);
    const cfg = await readBlob(st.root, img.id);
    expect(img.id).toBe(`sha256:${createHash('sha256').update(cfg).digest('hex')}`);
    expect((await st.imageConfig('app')).rootfs.diff_ids).toEqual([la.diffID, lb.diffID]);
    expect(img.tags).toEqual(['app:latest']);
    await expect(st.createImage('bad', [lb.chainID])).rejects.toThrow(/stands on/);
    await expect(st.removeLayer(la.chainID)).rejects.toThrow(/used by image app:latest/);
  });

  it('names images repository:tag, several names per image, tags moving between images', async () => {
    expect(parseImageName('ubuntu')).toEqual({ repository: 'ubuntu', tag: 'latest' });
    expect(parseImageName('localhost:5000/team/app:v1.2')).toEqual({ repository: 'localhost:5000/team/app', tag: 'v1.2' });
    expect(() => parseImageName('Bad/Name')).toThrow(/lowercase/);
    expect(() => parseImageName('app@sha256:00')).toThrow(/digest/);
    const l = await st.createLayerFromDir(await tree(path.join(tmp, 'tags'), { t: 't' }));
    const one = await st.createImage('tagged:one', [l.chainID]);
    await st.tag('tagged:one', 'tagged:two');
    await st.tag(one.id.slice(7, 19), 'other');
    expect((await st.image('tagged:two')).tags.sort()).toEqual(['other:latest', 'tagged:one', 'tagged:two']);
    const two = await st.createImage('tagged:two', [l.chainID], { createdBy: 'second' });
    expect(two.id).not.toBe(one.id);
    expect((await st.image(one.id)).tags).not.toContain('tagged:two');
    // A name with other names left only untags; by ID with several names needs force.
    expect(await st.removeImage('other')).toEqual({ untagged: ['other:latest'], deleted: null, layersRemoved: [] });
    expect(await st.removeImage('tagged:one')).toMatchObject({ deleted: one.id, layersRemoved: [] });
    await expect(st.image('tagged:one')).rejects.toMatchObject({ code: 'ENOENT' });
    await st.tag('tagged:two', 'tagged:three');
    await expect(st.removeImage(two.id)).rejects.toThrow(/several names/);
    const r = await st.removeImage(two.id, { force: true });
    expect(r.deleted).toBe(two.id);
    expect(r.layersRemoved).toEqual([l.chainID]);
    await expect(st.layer(l.chainID)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses what would break references, with messages that say what to do', async () => {
    const l = await st.createLayerFromDir(await tree(path.join(tmp, 'ref'), { r: 'r' }));
    await st.createImage('inuse', [l.chainID]);
    const c = await st.createContainer('inuse', { name: 'user' });
    await expect(st.removeImage('inuse')).rejects.toThrow(/used by container user; remove the container first/);
    await expect(st.createContainer('inuse', { name: 'user' })).rejects.toThrow(/already in use/);
    await expect(st.createContainer('inuse', { name: '-bad' })).rejects.toThrow(/invalid container name/);
    await expect(st.createContainer('missing')).rejects.toThrow(/no such image: missing/);
    await expect(st.createContainer('inuse', { volumes: [{ hostdir: path.join(tmp, 'novol'), path: '/v' }] })).rejects.toThrow(/does not exist/);
    const child = await st.createLayerFromDir(await tree(path.join(tmp, 'child'), { c: 'c' }), { parent: l.chainID });
    await expect(st.removeLayer(l.chainID)).rejects.toThrow(/used by image/);
    await st.removeContainer(c.id);
    await st.removeImage('inuse');
    // The image went; its layer stays because a layer stands on it.
    await expect(st.removeLayer(l.chainID)).rejects.toThrow(/layer\(s\) on it/);
    await st.removeLayer(child.chainID);
    await st.removeLayer(l.chainID);
    expect(await st.check()).toMatchObject({ ok: true });
  });

  it('writes metadata atomically (no temp files left) and waits for the lock', async () => {
    const names = await fs.readdir(st.root);
    expect(names.filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    const release = await acquireLock(path.join(st.root, 'lock'), 'exclusive');
    let done = false;
    const p = st.images().then(() => (done = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(done).toBe(false);
    release();
    await p;
    expect(done).toBe(true);
    const held = await acquireLock(path.join(st.root, 'lock'), 'exclusive');
    await expect(acquireLock(path.join(st.root, 'lock'), 'shared', 1)).rejects.toThrow(/locked by pid/);
    held();
  });
});
