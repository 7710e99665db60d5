// docker-save archives: one written by skopeo (legacy <id>/layer.tar symlinks) reads into the tree
// umoci unpacks; one ufs writes is read back by skopeo (and unpacked by umoci); Docker 25's blobs form.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { applyLayerTar } from '../../lib/layers/tar-apply.js';
import { DirLayer } from '../../lib/layers/dir-layer.js';
import { aufsFormat } from '../../lib/layers/whiteout-aufs.js';
import { OciLayout } from '../../lib/layers/oci-layout.js';
import { openImageSource, type ImageSource, type SourceLayer } from '../../lib/layers/image-source.js';
import { decompressor } from '../../lib/layers/compression.js';
import { PassThrough, type Readable } from 'node:stream';
import { dockerArchiveStream, dockerImagesFromLayout } from '../../lib/layers/docker-archive.js';
import { digestHex } from '../../lib/layers/digest.js';
import { UfsError } from '../../lib/errors.js';
import { FIXTURES, cleanupTemp, diffSnapshots, flattenLayers, haveCmd, isRoot, run, snapshot, tempDir } from './helpers.js';

const tools = haveCmd('umoci') && haveCmd('skopeo');
const SNAP = { mtimes: true, xattrs: true };
let fx = '';
let refSnap: Record<string, string> = {};
/** The umoci image re-written by ufs with uncompressed layers (what docker-save archives hold). */
let plainLayout = '';

beforeAll(async () => {
  if (!tools) return;
  fx = await tempDir();
  await run('sh', [path.join(FIXTURES, 'umoci-image.sh'), fx]);
  refSnap = await snapshot(path.join(fx, 'ref', 'rootfs'), SNAP);
  plainLayout = await tempDir();
  const src = await OciLayout.open(path.join(fx, 'img'));
  const img = await src.readImage(await src.resolve('test'));
  const dst = await OciLayout.create(plainLayout);
  await dst.writeImage(img.config, img.layers.map((l) => ({ open: () => decompressed(l) })), { ref: 'plain', compression: 'none' });
});
afterAll(cleanupTemp);

/** A layer blob as its uncompressed tar. */
function decompressed(l: SourceLayer): Readable {
  const out = new PassThrough();
  void l.open().then(async (s) => {
    try {
      await pipeline(s, decompressor(l.compression), out);
    } catch (e) {
      out.destroy(e as Error);
    }
  });
  return out;
}

async function treeOfSource(src: ImageSource, ref?: string): Promise<Record<string, string>> {
  const img = await src.image(ref);
  const dirs: string[] = [];
  for (const l of img.layers) {
    const dir = await tempDir();
    await applyLayerTar(await l.open(), new DirLayer(dir), aufsFormat, { expectDiffID: l.diffID, onWarning: () => undefined });
    dirs.push(dir);
  }
  const out = await tempDir();
  await flattenLayers(dirs, aufsFormat, out);
  return snapshot(out, SNAP);
}

describe.skipIf(!tools)('docker-save archives', () => {
  it('reads an archive skopeo writes (legacy <id>/layer.tar symlinks, repositories) into the tree umoci unpacks', async () => {
    const file = path.join(await tempDir(), 'skopeo.tar');
    await run('skopeo', ['--insecure-policy', 'copy', '-q', `oci:${path.join(fx, 'img')}:test`, `docker-archive:${file}:example/app:v1`]);
    const src = await openImageSource(file);
    try {
      expect(src.kind).toBe('docker-archive');
      expect(await src.refs()).toContain('docker.io/example/app:v1');
      expect(diffSnapshots(refSnap, await treeOfSource(src, 'example/app:v1'))).toEqual([]);
    } finally {
      await src.close();
    }
  });

  it('writes an archive that skopeo reads and umoci then unpacks into the same tree (and ufs reads back)', async () => {
    const layout = await OciLayout.open(plainLayout);
    const file = path.join(await tempDir(), 'ufs.tar');
    await pipeline(dockerArchiveStream(await dockerImagesFromLayout(layout, [{ ref: 'plain', repoTags: ['example/ufs:v2'] }])), fs.createWriteStream(file));
    const listing = (await run('tar', ['-tf', file])).stdout;
    expect(listing).toMatch(/^[0-9a-f]{64}\/layer\.tar$/m);
    expect(listing).toMatch(/^manifest\.json$/m);
    expect(listing).toMatch(/^repositories$/m);
    const info = JSON.parse((await run('skopeo', ['inspect', `docker-archive:${file}`])).stdout) as { Layers: string[]; RepoTags?: string[] };
    expect(info.Layers).toHaveLength(3);
    const oci = path.join(await tempDir(), 'from-docker');
    await run('skopeo', ['--insecure-policy', 'copy', '-q', `docker-archive:${file}`, `oci:${oci}:t`]);
    const bundle = path.join(await tempDir(), 'b');
    await run('umoci', ['unpack', ...(isRoot ? [] : ['--rootless']), '--image', `${oci}:t`, bundle]);
    expect(diffSnapshots(refSnap, await snapshot(path.join(bundle, 'rootfs'), SNAP))).toEqual([]);
    const src = await openImageSource(file);
    try {
      expect(await src.refs()).toEqual(['example/ufs:v2']);
      expect(diffSnapshots(refSnap, await treeOfSource(src))).toEqual([]);
    } finally {
      await src.close();
    }
    // Deterministic: the same images give the same archive bytes.
    const again = path.join(await tempDir(), 'ufs2.tar');
    await pipeline(dockerArchiveStream(await dockerImagesFromLayout(layout, [{ ref: 'plain', repoTags: ['example/ufs:v2'] }])), fs.createWriteStream(again));
    expect((await fsp.readFile(again)).equals(await fsp.readFile(file))).toBe(true);
  });

  it("reads Docker 25's form (blobs/sha256 members, names only in repositories) and verifies blob digests", async () => {
    const layout = await OciLayout.open(plainLayout);
    const img = await layout.readImage(await layout.resolve('plain'));
    const dir = await tempDir();
    await run('cp', ['-a', `${plainLayout}/.`, dir]);
    const layers = img.layers.map((l) => layout.blobRel(l.digest!));
    await fsp.writeFile(path.join(dir, 'manifest.json'), JSON.stringify([{ Config: layout.blobRel(img.configDigest), RepoTags: null, Layers: layers }]));
    // The legacy names file points at the top layer's folder; make one that links to the blob.
    const topId = digestHex(img.layers[2]!.digest!);
    await fsp.mkdir(path.join(dir, topId));
    await fsp.symlink(`../${layers[2]!}`, path.join(dir, topId, 'layer.tar'));
    const manifest = JSON.parse(await fsp.readFile(path.join(dir, 'manifest.json'), 'utf8')) as { Layers: string[] }[];
    manifest[0]!.Layers[2] = `${topId}/layer.tar`;
    await fsp.writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
    await fsp.writeFile(path.join(dir, 'repositories'), JSON.stringify({ 'example/new': { latest: topId } }));
    // As a tar file, the way `docker save` hands it out.
    const file = path.join(await tempDir(), 'd25.tar');
    await run('tar', ['-C', dir, '-cf', file, '.']);
    const src = await openImageSource(file);
    try {
      expect(await src.refs()).toEqual(['example/new:latest']);
      expect(diffSnapshots(refSnap, await treeOfSource(src, 'example/new'))).toEqual([]);
    } finally {
      await src.close();
    }
    // A blob whose bytes do not match its name fails while streaming.
    const blob = path.join(dir, layers[0]!);
    const bytes = await fsp.readFile(blob);
    // Inside a file's data (a broken header would fail as EBADMSG first).
    const at = bytes.indexOf('usr/lib/mod/blob.bin') + 512 + 1000;
    expect(at).toBeGreaterThan(1000);
    bytes[at] = bytes[at]! ^ 0xff;
    await fsp.writeFile(blob, bytes);
    const src2 = await openImageSource(dir);
    try {
      const l0 = (await src2.image()).layers[0]!;
      const err = await applyLayerTar(await l0.open(), new DirLayer(await tempDir()), aufsFormat, { onWarning: () => undefined }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UfsError);
      expect((err as UfsError).code).toBe('EINTEGRITY');
    } finally {
      await src2.close();
    }
    // A manifest naming a layer the archive lacks is refused before anything is applied.
    await fsp.rm(path.join(dir, layers[1]!));
    const src3 = await openImageSource(dir);
    const missing = (await src3.image().catch((e: unknown) => e)) as UfsError;
    expect(missing.code).toBe('ENOENT');
    await src3.close();
  });
});
