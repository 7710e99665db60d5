// OCI layouts against umoci and skopeo: an image built by umoci (whiteouts, an opaque directory)
// applied layer by layer gives exactly the tree `umoci unpack` gives (both whiteout formats, and the
// kernel overlay as a second oracle); layouts and archives ufs writes are accepted by umoci/skopeo.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fsp from 'node:fs/promises';
import fs from 'node:fs';
import path from 'node:path';
import { applyLayerTar } from '../../lib/layers/tar-apply.js';
import { createLayerTar } from '../../lib/layers/tar-create.js';
import { DirLayer } from '../../lib/layers/dir-layer.js';
import { aufsFormat } from '../../lib/layers/whiteout-aufs.js';
import { overlayFormat } from '../../lib/layers/whiteout-overlay.js';
import type { WhiteoutFormat } from '../../lib/layers/whiteout.js';
import { OciLayout, ociArchiveStream } from '../../lib/layers/oci-layout.js';
import { openImageSource, type SourceImage } from '../../lib/layers/image-source.js';
import { pipeline } from 'node:stream/promises';
import { chainIDs, type Digest } from '../../lib/layers/digest.js';
import { UfsError } from '../../lib/errors.js';
import { IMAGE_SNAP, cleanupTemp, diffSnapshots, flattenLayers, haveImageTools, isRoot, overlayReady, run, snapshot, tempDir, umociFixture } from './helpers.js';

const tools = haveImageTools;
const SNAP = IMAGE_SNAP;
let fx = '';
let refSnap: Record<string, string> = {};

beforeAll(async () => {
  if (tools) ({ dir: fx, ref: refSnap } = await umociFixture());
});
afterAll(cleanupTemp);

/** Applies every layer of an image into its own directory (bottom first), verifying every digest. */
async function applyLayers(img: SourceImage, format: WhiteoutFormat): Promise<string[]> {
  const dirs: string[] = [];
  for (const l of img.layers) {
    const dir = await tempDir();
    const r = await applyLayerTar(await l.open(), new DirLayer(dir), format, {
      expectDiffID: l.diffID, ...(l.digest ? { expectDigest: l.digest } : {}), ...(l.size >= 0 ? { expectSize: l.size } : {}), onWarning: () => undefined,
    });
    expect(r.diffID).toBe(l.diffID);
    dirs.push(dir);
  }
  return dirs;
}

async function treeOf(layout: string, ref: string, format: WhiteoutFormat = aufsFormat): Promise<Record<string, string>> {
  const src = await openImageSource(layout);
  try {
    const dirs = await applyLayers(await src.image(ref), format);
    const out = await tempDir();
    await flattenLayers(dirs, format, out);
    return snapshot(out, SNAP);
  } finally {
    await src.close();
  }
}

describe.skipIf(!tools)('an image built by umoci', () => {
  it('applied layer by layer in the aufs format gives the tree umoci unpack gives', async () => {
    const src = await openImageSource(path.join(fx, 'img'));
    expect(src.kind).toBe('oci-layout');
    expect(await src.refs()).toEqual(['test']);
    const img = await src.image('test');
    expect(img.layers).toHaveLength(3);
    const dirs = await applyLayers(img, aufsFormat);
    // The second layer carries whiteouts, the third an opaque directory: as markers on disk.
    expect(fs.existsSync(path.join(dirs[1]!, 'etc/app.d/.wh.one.conf'))).toBe(true);
    expect(fs.existsSync(path.join(dirs[1]!, 'opt/.wh.gone'))).toBe(true);
    expect(fs.existsSync(path.join(dirs[2]!, 'opt/replaced/.wh..wh..opq'))).toBe(true);
    const out = await tempDir();
    await flattenLayers(dirs, aufsFormat, out);
    expect(diffSnapshots(refSnap, await snapshot(out, SNAP))).toEqual([]);
  });

  const ov = overlayReady();
  it.skipIf(!ov.ok)(`applied in the overlay format gives the same tree, through ufs's merge and the kernel's ${ov.why}`, async () => {
    const src = await openImageSource(path.join(fx, 'img'));
    const dirs = await applyLayers(await src.image('test'), overlayFormat);
    const out = await tempDir();
    await flattenLayers(dirs, overlayFormat, out);
    expect(diffSnapshots(refSnap, await snapshot(out, SNAP))).toEqual([]);
    // The kernel's overlayfs reads the same layer directories the same way.
    const mnt = await tempDir();
    await run('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${[...dirs].reverse().join(':')}`, mnt]);
    try {
      expect(diffSnapshots(refSnap, await snapshot(mnt, SNAP))).toEqual([]);
    } finally {
      await run('umount', [mnt]);
    }
  });

  it("applied in target 'rootfs' mode into one directory gives the same tree", async () => {
    const src = await openImageSource(path.join(fx, 'img'));
    const img = await src.image();
    const out = await tempDir();
    for (const l of img.layers) {
      await applyLayerTar(await l.open(), new DirLayer(out), aufsFormat, { target: 'rootfs', expectDiffID: l.diffID, onWarning: () => undefined });
    }
    expect(diffSnapshots(refSnap, await snapshot(out, SNAP))).toEqual([]);
  });

  it('refuses a tampered config (EINTEGRITY), a tampered layer (EINTEGRITY) and a missing blob (ENOENT)', async () => {
    const copy = await tempDir();
    await run('cp', ['-a', `${path.join(fx, 'img')}/.`, copy]);
    const layout = await OciLayout.open(copy);
    const img = await layout.readImage(await layout.resolve('test'));
    const layerFile = path.join(copy, layout.blobRel(img.layers[0]!.digest!));
    const bytes = await fsp.readFile(layerFile);
    bytes[bytes.length - 20] = bytes[bytes.length - 20]! ^ 1;
    await fsp.writeFile(layerFile, bytes);
    const err = await applyLayerTar(await img.layers[0]!.open(), new DirLayer(await tempDir()), aufsFormat, { onWarning: () => undefined }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UfsError);
    expect(['EINTEGRITY', 'EBADMSG']).toContain((err as UfsError).code);
    const configFile = path.join(copy, layout.blobRel(img.configDigest));
    await fsp.writeFile(configFile, (await fsp.readFile(configFile, 'utf8')).replace('"os":"linux"', '"os":"linux" '));
    expect(((await layout.readImage(await layout.resolve('test')).catch((e: unknown) => e)) as UfsError).code).toBe('EINTEGRITY');
    await fsp.writeFile(configFile, (await fsp.readFile(configFile, 'utf8')).replace('"os":"linux" ', '"os":"linux"'));
    await fsp.rm(path.join(copy, layout.blobRel(img.layers[2]!.digest!)));
    const missing = (await layout.readImage(await layout.resolve('test')).catch((e: unknown) => e)) as UfsError;
    expect(missing.code).toBe('ENOENT');
    expect(missing.message).toMatch(/missing blob/);
  });
});

describe.skipIf(!tools)('a layout written by ufs', () => {
  let ours = '';
  let diffIDs: Digest[] = [];
  beforeAll(async () => {
    if (!tools) return;
    // Layers as the store would hold them, exported by createLayerTar into a new layout.
    const src = await openImageSource(path.join(fx, 'img'));
    const img = await src.image('test');
    const dirs = await applyLayers(img, aufsFormat);
    ours = await tempDir();
    const layout = await OciLayout.create(ours);
    const { rootfs: _drop, ...config } = img.config;
    const w = await layout.writeImage(config, dirs.map((d) => ({ open: () => createLayerTar(new DirLayer(d), aufsFormat) })), { ref: 'ours' });
    diffIDs = w.diffIDs;
  });

  it('is unpacked by umoci into the same tree', async () => {
    const bundle = path.join(await tempDir(), 'b');
    await run('umoci', ['unpack', ...(isRoot ? [] : ['--rootless']), '--image', `${ours}:ours`, bundle]);
    expect(diffSnapshots(refSnap, await snapshot(path.join(bundle, 'rootfs'), SNAP))).toEqual([]);
  });

  it('is inspected by skopeo: the same layer digests, diff_ids and config', async () => {
    const layout = await OciLayout.open(ours);
    const img = await layout.readImage(await layout.resolve('ours'));
    const info = JSON.parse((await run('skopeo', ['inspect', `oci:${ours}:ours`])).stdout) as { Layers: string[]; Os: string; Architecture: string };
    expect(info.Layers).toEqual(img.layers.map((l) => l.digest));
    expect(info.Os).toBe('linux');
    const config = JSON.parse((await run('skopeo', ['inspect', '--config', `oci:${ours}:ours`])).stdout) as { rootfs: { diff_ids: string[] } };
    expect(config.rootfs.diff_ids).toEqual(diffIDs);
    expect(chainIDs(diffIDs)).toHaveLength(3);
  });

  it('skopeo copy works from it and to a layout ufs then reads: same tree both ways', async () => {
    const dest = path.join(await tempDir(), 'copy');
    await run('skopeo', ['--insecure-policy', 'copy', '-q', `oci:${ours}:ours`, `oci:${dest}:t`]);
    expect(diffSnapshots(refSnap, await treeOf(dest, 't'))).toEqual([]);
    // And an image skopeo writes from umoci's layout reads the same through ufs.
    const dest2 = path.join(await tempDir(), 'copy2');
    await run('skopeo', ['--insecure-policy', 'copy', '-q', `oci:${path.join(fx, 'img')}:test`, `oci:${dest2}:t2`]);
    expect(diffSnapshots(refSnap, await treeOf(dest2, 't2'))).toEqual([]);
  });

  it('as an OCI archive (the layout as a tar) is read by ufs and by skopeo', async () => {
    const file = path.join(await tempDir(), 'img.oci.tar');
    await pipeline(await ociArchiveStream(ours), fs.createWriteStream(file));
    const src = await openImageSource(file);
    expect(src.kind).toBe('oci-archive');
    await src.close();
    expect(diffSnapshots(refSnap, await treeOf(file, 'ours'))).toEqual([]);
    const info = JSON.parse((await run('skopeo', ['inspect', `oci-archive:${file}:ours`])).stdout) as { Layers: string[] };
    expect(info.Layers).toHaveLength(3);
  });
});
