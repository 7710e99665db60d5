// Images through the store: an umoci image imported shows umoci's tree, is not imported twice,
// exports to a layout umoci/skopeo accept, round-trips through another driver with the same digests,
// fails whole on a wrong digest, and saves/loads as docker-save and OCI archives.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { Store } from '../../lib/store/store.js';
import { OciLayout } from '../../lib/layers/oci-layout.js';
import { exportImage, importFrom, importLayerTarball, loadImages, saveImages } from '../../lib/layers/image-transfer.js';
import { sha256 } from '../../lib/layers/digest.js';
import { UfsError } from '../../lib/errors.js';
import { native } from '../../lib/native.js';
import { FIXTURES, cleanupTemp, diffSnapshots, haveCmd, isRoot, run, snapshot, tempDir } from './helpers.js';

const tools = haveCmd('umoci') && haveCmd('skopeo');
const SNAP = { mtimes: true, xattrs: true };
let fx = '';
let refSnap: Record<string, string> = {};

beforeAll(async () => {
  if (!tools) return;
  fx = await tempDir();
  await run('sh', [path.join(FIXTURES, 'umoci-image.sh'), fx]);
  refSnap = await snapshot(path.join(fx, 'ref', 'rootfs'), SNAP);
});
afterAll(cleanupTemp);

async function openStore(driver: string): Promise<Store> {
  return Store.open({ root: path.join(await tempDir(), 'store'), driver });
}

/** The tree of an image in a vfs store (its views are plain directories). */
async function imageTree(store: Store, ref: string): Promise<Record<string, string>> {
  const view = await store.mountImage(ref);
  try {
    expect(view.path).not.toBeNull();
    return await snapshot(view.path!, SNAP);
  } finally {
    await store.releaseImage(ref);
  }
}

describe.skipIf(!tools)('images through the store', () => {
  it('imports an umoci image (verified), shows its tree, and reuses its layers the second time', async () => {
    const store = await openStore('vfs');
    const progress: number[] = [];
    const r = await importFrom(store, path.join(fx, 'img'), { ref: 'test', tags: ['umoci/test:1'], onProgress: (p) => progress.push(p.layer) });
    expect(r.layersImported).toBe(3);
    expect(r.image.tags).toEqual(['umoci/test:1']);
    expect(new Set(progress)).toEqual(new Set([1, 2, 3]));
    expect(diffSnapshots(refSnap, await imageTree(store, 'umoci/test:1'))).toEqual([]);
    const again = await importFrom(store, path.join(fx, 'img'), { tags: ['umoci/test:2'] });
    expect(again).toMatchObject({ layersImported: 0, layersReused: 3 });
    expect(again.image.id).toBe(r.image.id);
    expect((await store.layers()).length).toBe(3);
  });

  it('exports to a layout umoci unpacks into the same tree; re-imported into another driver, the digests stay', async () => {
    const store = await openStore('vfs');
    const r = await importFrom(store, path.join(fx, 'img'), { tags: ['umoci/test:1'] });
    const out = path.join(await tempDir(), 'layout');
    const e1 = await exportImage(store, 'umoci/test:1', out);
    // umoci's layer tars come out byte for byte (tar-split): same diff_ids, same config, same image ID.
    expect(e1.rewritten).toBe(false);
    expect(e1.config.digest).toBe(r.image.id);
    expect(e1.diffIDs).toEqual((await store.imageConfig('umoci/test:1')).rootfs.diff_ids);
    const bundle = path.join(await tempDir(), 'b');
    await run('umoci', ['unpack', ...(isRoot ? [] : ['--rootless']), '--image', `${out}:1`, bundle]);
    expect(diffSnapshots(refSnap, await snapshot(path.join(bundle, 'rootfs'), SNAP))).toEqual([]);
    const info = JSON.parse((await run('skopeo', ['inspect', `oci:${out}:1`])).stdout) as { Layers: string[] };
    expect(info.Layers).toHaveLength(3);

    const other = await openStore('aufs');
    const imp = await importFrom(other, out, { ref: '1', tags: ['again:1'] });
    expect(imp.image.id).toBe(e1.config.digest);
    const out2 = path.join(await tempDir(), 'layout2');
    const e2 = await exportImage(other, 'again:1', out2, { name: '1' });
    expect(e2.rewritten).toBe(false);
    expect(e2.diffIDs).toEqual(e1.diffIDs);
    expect(e2.manifest.digest).toBe(e1.manifest.digest);
  });

  it('a wrong diffID in the config fails the import with EINTEGRITY and leaves no layer behind', async () => {
    const copy = await tempDir();
    await run('cp', ['-a', `${path.join(fx, 'img')}/.`, copy]);
    const layout = await OciLayout.open(copy);
    const img = await layout.readImage(await layout.resolve('test'));
    const bad = { ...img.config, rootfs: { type: 'layers' as const, diff_ids: img.config.rootfs.diff_ids.map((d, i) => (i === 1 ? sha256('not this layer') : d)) } };
    await layout.writeManifest(bad, img.manifest!.layers, { ref: 'bad' });
    const store = await openStore('vfs');
    const err = await importFrom(store, copy, { ref: 'bad', tags: ['bad:1'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UfsError);
    expect((err as UfsError).code).toBe('EINTEGRITY');
    expect(await store.layers()).toEqual([]);
    expect(await store.images()).toEqual([]);
  });

  it('saves docker-save and OCI archives that skopeo reads, and loads them back', async () => {
    const store = await openStore('vfs');
    await importFrom(store, path.join(fx, 'img'), { tags: ['example/app:v1'] });
    const dir = await tempDir();
    const docker = path.join(dir, 'app.tar');
    await saveImages(store, ['example/app:v1'], docker, { format: 'docker' });
    const info = JSON.parse((await run('skopeo', ['inspect', `docker-archive:${docker}`])).stdout) as { Layers: string[]; RepoTags?: string[] };
    expect(info.Layers).toHaveLength(3);
    const oci = path.join(dir, 'app.oci.tar');
    await saveImages(store, ['example/app:v1'], oci, { format: 'oci' });
    expect(JSON.parse((await run('skopeo', ['inspect', `oci-archive:${oci}:v1`])).stdout)).toHaveProperty('Layers');
    expect(fs.readdirSync(dir).sort()).toEqual(['app.oci.tar', 'app.tar']);

    const fresh = await openStore('vfs');
    const loaded = await loadImages(fresh, docker);
    expect(loaded).toHaveLength(1);
    expect(loaded[0]!.image.tags).toEqual(['example/app:v1']);
    expect(diffSnapshots(refSnap, await imageTree(fresh, 'example/app:v1'))).toEqual([]);
  });

  it('imports a plain zstd layer tarball made by GNU tar as a one-layer image', async () => {
    const gx = await tempDir();
    await run('sh', [path.join(FIXTURES, 'gnu-tar-layer.sh'), gx]);
    const store = await openStore('vfs');
    const { layer, image } = await importLayerTarball(store, path.join(gx, 'layer.tar.zst'), { tag: 'plain:zst' });
    expect(image?.layers).toEqual([layer.chainID]);
    let ref = await snapshot(path.join(gx, 'ref'), SNAP);
    // Without the native addon there is no mknod: fifos and device nodes are skipped (with a warning).
    if (!native()) ref = Object.fromEntries(Object.entries(ref).filter(([, v]) => !/^(fifo|chr|blk) /.test(v)));
    expect(diffSnapshots(ref, await imageTree(store, 'plain:zst'))).toEqual([]);
  });
});
