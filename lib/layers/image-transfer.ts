// Images between the store and the formats: import (OCI layout/archive, docker-save, plain layer
// tarballs) with every digest verified while streaming, export to an OCI layout, save/load archives.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Store } from '../store/store.js';
import type { ImageRecord, LayerRecord } from '../store/meta.js';
import { normalizeImageName } from '../store/refs.js';
import { fsError } from '../errors.js';
import { chainIDs, DigestStream, type Digest } from './digest.js';
import { badData, decompressor, detectCompression, peek, unsupportedCompression } from './compression.js';
import { jsonBytes, parseImageConfig, parseRef, type Descriptor } from './image-config.js';
import { OciLayout, ociArchiveStream } from './oci-layout.js';
import { dockerArchiveStream, dockerImagesFromLayout } from './docker-archive.js';
import { openImageSource, type ImageSource, type SourceLayer } from './image-source.js';

/** Progress of a transfer: which layer (1-based) of how many, and bytes of it so far. */
export interface TransferProgress {
  layer: number;
  layers: number;
  bytes: number;
  /** The layer was already in the store (import) and was not read at all. */
  reused?: boolean;
}

export interface ImportOptions {
  /** Which image of the source (a ref.name or RepoTag); by default its only image. */
  ref?: string;
  /** Names for the image in the store (default: the source's name when it is a full `repository:tag`). */
  tags?: string[];
  onProgress?: (p: TransferProgress) => void;
  /** How many layers are applied at the same time (default IMPORT_CONCURRENCY). */
  concurrency?: number;
}

export interface ImportResult {
  image: ImageRecord;
  layersImported: number;
  layersReused: number;
}

/**
 * The uncompressed tar of a source layer, verified while it streams: the blob digest (by the
 * source), then the diffID of the decompressed bytes (EINTEGRITY at the end on a mismatch).
 */
async function verifiedTar(l: SourceLayer, onBytes?: (n: number) => void): Promise<Readable> {
  const raw = await l.open();
  const head = await peek(raw, 6);
  const kind = detectCompression(head);
  if (kind === 'xz' || kind === 'bzip2') {
    raw.destroy();
    throw unsupportedCompression(kind, l.digest ?? l.diffID);
  }
  const dec = decompressor(kind);
  const check = new DigestStream({ expect: l.diffID, what: 'layer diffID', path: l.diffID, ...(onBytes ? { onProgress: onBytes } : {}) });
  raw.on('error', (e) => check.destroy(e));
  dec.on('error', (e) => check.destroy(badData(kind, e, l.digest ?? l.diffID)));
  check.on('close', () => {
    raw.destroy();
    dec.destroy();
  });
  // The check may fail before the store starts reading (a small layer fits in the buffers): keep
  // the error on the stream (stream.errored) for the reader instead of an uncaught 'error' event.
  check.on('error', () => undefined);
  raw.pipe(dec).pipe(check);
  return check;
}

/** A source name usable as a store name: a full `repository:tag` (an OCI ref.name may be just a tag). */
function defaultTags(sourceRef: string | undefined, kind: ImageSource['kind']): string[] {
  if (sourceRef === undefined) return [];
  if (kind === 'docker-archive') return [sourceRef];
  return sourceRef.includes('/') || sourceRef.includes(':') ? [sourceRef] : [];
}

/** How many layers of one image are applied at the same time. */
export const IMPORT_CONCURRENCY = 3;

/**
 * Imports one image of a source into the store. Layers already there (same chainID) are reused
 * without reading them; the others are staged outside the store lock, several at a time, each
 * verified while it streams, and recorded bottom first. They stay unlisted until the image is
 * recorded. On any error the layers this import created are removed again and the error is rethrown.
 */
export async function importImage(store: Store, source: ImageSource, opts: ImportOptions = {}): Promise<ImportResult> {
  const img = await source.image(opts.ref);
  const chains = chainIDs(img.config.rootfs.diff_ids);
  if (chains.length !== img.layers.length) {
    throw fsError('EINVAL', 'import', undefined, undefined, `the image has ${img.layers.length} layers but its config lists ${chains.length} diffIDs`);
  }
  const progress = (i: number, bytes: number, reused?: boolean): void =>
    opts.onProgress?.({ layer: i + 1, layers: img.layers.length, bytes, ...(reused ? { reused: true } : {}) });
  const imp = await store.beginImport();
  try {
    const r = await imp.createLayers(
      img.layers.map((l, i) => ({ chainID: chains[i]!, open: () => verifiedTar(l, (b) => progress(i, b)) })),
      { concurrency: opts.concurrency ?? IMPORT_CONCURRENCY, onReused: (i) => progress(i, 0, true) },
    );
    const tags = opts.tags ?? defaultTags(img.ref, source.kind);
    const image = await store.addImage(img.configBytes, tags);
    return { image, layersImported: r.imported, layersReused: r.reused };
  } catch (e) {
    await imp.abort().catch(() => undefined);
    throw e;
  } finally {
    await imp.close();
  }
}

/** Imports from a path (OCI layout directory, OCI archive, docker-save archive). */
export async function importFrom(store: Store, p: string, opts: ImportOptions = {}): Promise<ImportResult> {
  const src = await openImageSource(p);
  try {
    return await importImage(store, src, opts);
  } finally {
    await src.close();
  }
}

/** Loads every image of an archive (like `docker load`). */
export async function loadImages(store: Store, p: string, opts: { onProgress?: (p: TransferProgress & { ref?: string }) => void } = {}): Promise<ImportResult[]> {
  const src = await openImageSource(p);
  try {
    const refs = await src.refs();
    const out: ImportResult[] = [];
    for (const ref of refs.length ? refs : [undefined]) {
      out.push(await importImage(store, src, {
        ...(ref !== undefined ? { ref } : {}),
        ...(opts.onProgress ? { onProgress: (pr: TransferProgress) => opts.onProgress!({ ...pr, ...(ref !== undefined ? { ref } : {}) }) } : {}),
      }));
    }
    return out;
  } finally {
    await src.close();
  }
}

/** Imports a plain layer tarball (plain, gzip or zstd) onto `parent`; with `tag`, also an image of the stack. */
export async function importLayerTarball(store: Store, input: string | Readable, opts: { parent?: string | null; tag?: string } = {}): Promise<{ layer: LayerRecord; image?: ImageRecord }> {
  const stream = typeof input === 'string' ? fs.createReadStream(input) : input;
  const layer = await store.createLayer(opts.parent ?? null, stream);
  if (opts.tag === undefined) return { layer };
  const stack: string[] = [];
  for (let l: LayerRecord | null = layer; l; l = l.parent ? await store.layer(l.parent) : null) stack.unshift(l.chainID);
  return { layer, image: await store.createImage(opts.tag, stack, { createdBy: 'ufs image import (layer tarball)' }) };
}

export interface ExportOptions {
  /** The ref.name in index.json (default: the tag of the image's first name, else 'latest'). */
  name?: string;
  compression?: 'none' | 'gzip';
  mediaTypes?: 'oci' | 'docker';
  onProgress?: (p: TransferProgress) => void;
}

export interface ExportResult {
  manifest: Descriptor;
  config: Descriptor;
  diffIDs: Digest[];
  /**
   * Whether the config had to be rewritten because a layer's tar came out with other bytes. Layers
   * imported since tar-split records exist come out byte for byte as imported, layers made by ufs as
   * ufs makes them, so this is false; only a layer imported by an older ufs (no record) is
   * re-serialised (same content, other bytes), changing its diffID and the image ID.
   */
  rewritten: boolean;
}

/** Writes an image of the store into an OCI layout directory (created when missing). */
export async function exportImage(store: Store, ref: string, dir: string, opts: ExportOptions = {}): Promise<ExportResult> {
  const rec = await store.image(ref);
  const configBytes = await store.imageConfigBytes(rec.id);
  const config = parseImageConfig(configBytes);
  const layout = await OciLayout.create(dir);
  const descs: Descriptor[] = [];
  const diffIDs: Digest[] = [];
  for (let i = 0; i < rec.layers.length; i++) {
    const tar = await store.layerTar(rec.layers[i]!);
    const w = await layout.writeLayer({ open: () => tar }, {
      ...(opts.compression ? { compression: opts.compression } : {}),
      ...(opts.mediaTypes ? { mediaTypes: opts.mediaTypes } : {}),
    });
    opts.onProgress?.({ layer: i + 1, layers: rec.layers.length, bytes: w.descriptor.size });
    descs.push(w.descriptor);
    diffIDs.push(w.diffID);
  }
  const same = diffIDs.length === config.rootfs.diff_ids.length && diffIDs.every((d, i) => d === config.rootfs.diff_ids[i]);
  const outConfig = same ? configBytes : jsonBytes({ ...config, rootfs: { type: 'layers', diff_ids: diffIDs } });
  const name = opts.name ?? (rec.tags[0] !== undefined ? parseRef(rec.tags[0]).tag : 'latest');
  const r = await layout.writeManifest(outConfig, descs, { ref: name, ...(opts.mediaTypes ? { mediaTypes: opts.mediaTypes } : {}) });
  return { ...r, diffIDs, rewritten: !same };
}

/**
 * Saves images of the store as one archive: 'docker' (docker-save, what `docker load` reads; layers
 * uncompressed) or 'oci' (an OCI archive: the layout as a tar, each image named by its tag).
 * `out` is a file (written to a temp name, renamed when complete) or a stream.
 */
export async function saveImages(store: Store, refs: string[], out: string | Writable, opts: { format?: 'docker' | 'oci'; onProgress?: (p: TransferProgress & { ref: string }) => void } = {}): Promise<void> {
  if (refs.length === 0) throw fsError('EINVAL', 'save', undefined, undefined, 'name at least one image to save');
  const format = opts.format ?? 'docker';
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'ufs-save-'));
  try {
    const layoutDir = path.join(tmp, 'layout');
    const names: { ref: string; repoTags: string[] }[] = [];
    const used = new Set<string>();
    for (const [i, ref] of refs.entries()) {
      const rec = await store.image(ref);
      // Saved under the name asked for; an image asked for by ID goes without names, as docker save does.
      let asked: string | null = null;
      try {
        asked = normalizeImageName(ref);
      } catch {
        asked = null;
      }
      const tag = asked !== null && rec.tags.includes(asked) ? asked : undefined;
      let name = format === 'docker' ? `image-${i}` : parseRef(tag ?? rec.tags[0] ?? `image-${i}`).tag;
      if (used.has(name)) {
        if (format === 'oci') throw fsError('EINVAL', 'save', ref, undefined, `two images would both be named '${name}' in the OCI archive; save them separately`);
        name = `${name}-${i}`;
      }
      used.add(name);
      await exportImage(store, ref, layoutDir, {
        name, compression: format === 'docker' ? 'none' : 'gzip',
        ...(opts.onProgress ? { onProgress: (p: TransferProgress) => opts.onProgress!({ ...p, ref }) } : {}),
      });
      names.push({ ref: name, repoTags: tag !== undefined ? [tag] : [] });
    }
    const stream = format === 'docker'
      ? dockerArchiveStream(await dockerImagesFromLayout(await OciLayout.open(layoutDir), names))
      : await ociArchiveStream(layoutDir);
    if (typeof out !== 'string') {
      await pipeline(stream, out);
      return;
    }
    const part = `${out}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await pipeline(stream, fs.createWriteStream(part, { flags: 'wx', mode: 0o644 }));
      await fsp.rename(part, out);
    } catch (e) {
      await fsp.rm(part, { force: true });
      throw e;
    }
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}
