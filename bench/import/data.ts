// The import suite's data set: one image as an OCI layout with gzip-compressed layers, made once per
// run with ufs's own API (the mount suite's Debian root filesystem in three layers, or a tiny
// synthetic tree for tests), plus the uncompressed layer tars and the merged tree it must unpack to.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Store } from '../../lib/store/store.js';
import { exportImage } from '../../lib/layers/image-transfer.js';
import { LayerWriter, pad, range } from '../lib/files.js';
import { buildRootfs, type RootfsInfo } from '../mount/rootfs.js';
import { must, shq } from '../mount/proc.js';
import { manifestOfDir } from './manifest.js';

export type ImageKind = 'rootfs' | 'tiny';

export interface ImportImage {
  kind: ImageKind;
  /** The OCI layout directory and the tag (ref.name) of the image in it. */
  layout: string;
  tag: string;
  /** The gzip layer blobs in the layout, bottom first. */
  blobs: string[];
  /** The same layers uncompressed, bottom first. */
  tars: string[];
  /** The manifest (manifest.ts) of the merged tree the image must unpack to. */
  expected: string[];
  info: ImageInfo;
}

export interface ImageInfo {
  kind: ImageKind;
  layers: number;
  /** Bytes of the gzip blobs, and of the uncompressed tars. */
  gzipBytes: number;
  tarBytes: number;
  /** Entries of the merged tree (files, directories, symlinks), and bytes of its files. */
  entries: number;
  files: number;
  fileBytes: number;
  rootfs?: Omit<RootfsInfo, 'packages'> & { packages: number };
}

/** Which data set: the Debian root filesystem, or a tiny synthetic tree (UFS_BENCH_IMPORT_TINY=1, for tests). */
export function imageKind(): ImageKind {
  return process.env.UFS_BENCH_IMPORT_TINY === '1' ? 'tiny' : 'rootfs';
}

/**
 * A small three-layer tree in the aufs format (`.wh.` files need no root): files of several sizes
 * and modes, a symlink, a directory deleted by a whiteout, a file deleted, an opaque directory.
 */
async function tinyLayers(base: string): Promise<{ layers: string[]; flat: string }> {
  const layers = range(3).map((i) => path.join(base, `L${i}`));
  const flat = path.join(base, 'flat');
  for (const d of [...layers, flat]) await fsp.mkdir(d, { recursive: true });
  const bottom = new LayerWriter(layers[2]!, flat);
  for (const i of range(40)) await bottom.file(`usr/share/f${pad(i, 3)}`, 100 + i * 97, i);
  await bottom.file('usr/bin/tool', 4096, 50, 0o755);
  await bottom.file('etc/passwd', 64, 51);
  await bottom.file('opt/gone/deep/file', 10, 52);
  await bottom.file('opt/replaced/lower', 10, 53);
  for (const root of [layers[2]!, flat]) await fsp.symlink('tool', path.join(root, 'usr/bin/tool-link'));
  const middle = new LayerWriter(layers[1]!, flat);
  for (const i of range(20)) await middle.file(`var/lib/m${pad(i, 3)}`, 1000 + i, 60 + i);
  await middle.file('etc/passwd', 80, 90);
  const top = new LayerWriter(layers[0]!, flat);
  await top.file('etc/hostname', 16, 91);
  await top.file('opt/replaced/upper', 12, 92);
  await fsp.writeFile(path.join(layers[0]!, 'opt/.wh.gone'), '');
  await fsp.writeFile(path.join(layers[0]!, 'opt/replaced/.wh..wh..opq'), '');
  await fsp.mkdir(path.join(layers[0]!, 'usr/share'), { recursive: true });
  await fsp.writeFile(path.join(layers[0]!, 'usr/share/.wh.f000'), '');
  await fsp.rm(path.join(flat, 'opt/gone'), { recursive: true });
  await fsp.rm(path.join(flat, 'opt/replaced/lower'));
  await fsp.rm(path.join(flat, 'usr/share/f000'));
  return { layers, flat };
}

/** The layer blobs of the layout's only image, bottom first. */
async function layerBlobs(layout: string): Promise<string[]> {
  const blob = (digest: string): string => path.join(layout, 'blobs', ...digest.split(':'));
  const index = JSON.parse(await fsp.readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const m = index.manifests[0];
  if (!m) throw new Error(`${layout}: the index lists no image`);
  const manifest = JSON.parse(await fsp.readFile(blob(m.digest), 'utf8')) as { layers: Array<{ digest: string; mediaType: string }> };
  for (const l of manifest.layers) if (!l.mediaType.endsWith('+gzip')) throw new Error(`${layout}: layer ${l.digest} is ${l.mediaType}, not gzip`);
  return manifest.layers.map((l) => blob(l.digest));
}

/** Builds the image under `base`; `log` reports the steps. */
export async function buildImportImage(base: string, kind: ImageKind, log: (s: string) => void): Promise<ImportImage> {
  await fsp.mkdir(base, { recursive: true });
  let layers: string[];
  let flat: string;
  let rootfs: RootfsInfo | null = null;
  // Layer directories are topmost first; the rootfs ones are in the overlay format (needs root).
  if (kind === 'rootfs') {
    const r = await buildRootfs(path.join(base, 'rootfs'));
    layers = r.stack.layers;
    flat = r.stack.flat;
    rootfs = r.info;
  } else {
    ({ layers, flat } = await tinyLayers(path.join(base, 'tiny')));
  }
  log(`import: layer directories ready, making the OCI layout with ufs (createLayerFromDir + exportImage, gzip)`);
  const storeRoot = path.join(base, 'build-store');
  const store = await Store.open({ root: storeRoot, driver: 'aufs' });
  const tag = kind;
  const layout = path.join(base, 'layout');
  try {
    let parent: string | null = null;
    const ids: string[] = [];
    for (const dir of [...layers].reverse()) {
      const rec = await store.createLayerFromDir(dir, { parent, format: kind === 'rootfs' ? 'overlay' : 'aufs' });
      parent = rec.chainID;
      ids.push(rec.chainID);
    }
    await store.createImage(`bench/${tag}:latest`, ids);
    await exportImage(store, `bench/${tag}:latest`, layout, { compression: 'gzip', name: tag });
  } finally {
    await store.close();
  }
  await fsp.rm(storeRoot, { recursive: true, force: true });
  const blobs = await layerBlobs(layout);
  const tars: string[] = [];
  await fsp.mkdir(path.join(base, 'tars'), { recursive: true });
  for (const [i, b] of blobs.entries()) {
    const t = path.join(base, 'tars', `layer${i}.tar`);
    await must(`gzip -dc ${shq(b)} > ${shq(t)}`);
    tars.push(t);
  }
  const expected = await manifestOfDir(flat);
  const size = (p: string): number => fs.statSync(p).size;
  const info: ImageInfo = {
    kind,
    layers: blobs.length,
    gzipBytes: blobs.reduce((a, b) => a + size(b), 0),
    tarBytes: tars.reduce((a, t) => a + size(t), 0),
    entries: expected.length,
    files: expected.filter((l) => / f \d+ \d+$/.test(l)).length,
    fileBytes: expected.reduce((a, l) => a + Number(/ f (\d+) \d+$/.exec(l)?.[1] ?? 0), 0),
    ...(rootfs ? { rootfs: { ...rootfs, packages: rootfs.packages.length } } : {}),
  };
  // The layer directories and the flat copy are not needed any more (the manifest is kept).
  await fsp.rm(path.join(base, kind), { recursive: true, force: true });
  return { kind, layout, tag, blobs, tars, expected, info };
}
