// The OCI image layout on disk (oci-layout, index.json, blobs/<alg>/<hex>): reading images with
// every blob verified while it streams, writing blobs atomically and images that umoci/skopeo accept.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Readable, type Transform, type Writable } from 'node:stream';
import { fsError, isErrno } from '../errors.js';
import { DigestStream, parseDigest, type Digest } from './digest.js';
import {
  INDEX_TYPES, MANIFEST_TYPES, MediaType, REF_NAME_ANNOTATION, descriptorOf, hostArchitecture, jsonBytes,
  layerMediaType, parseImageConfig, parseIndex, parseManifest, type Descriptor, type ImageConfig, type ImageIndex, type Manifest,
} from './image-config.js';
import { compressionOfMediaType, gzipCompressor } from './compression.js';
import { archiveStream, directoryEntries, openInside, readInside } from './archive.js';
import type { SourceImage, SourceLayer } from './image-source.js';

export const OCI_LAYOUT_VERSION = '1.0.0';

/** A layer to write: its uncompressed tar (opened when needed) and, if known, its diffID. */
export interface LayerInput {
  open: () => Readable;
  diffID?: Digest;
}

export interface WriteImageOptions {
  /** The name recorded as `org.opencontainers.image.ref.name` in index.json (replacing an older one). */
  ref?: string;
  /** Layer compression in the layout: 'gzip' (default, as registries expect) or 'none'. */
  compression?: 'none' | 'gzip';
  /** 'oci' (default) or 'docker' schema2 media types. */
  mediaTypes?: 'oci' | 'docker';
  /** Manifest annotations. */
  annotations?: Record<string, string>;
}

export class OciLayout {
  private constructor(readonly dir: string) {}

  /** Opens an existing layout (checking its oci-layout file). */
  static async open(dir: string): Promise<OciLayout> {
    const root = path.resolve(dir);
    let v: unknown;
    try {
      v = JSON.parse((await readInside(root, 'oci-layout', 1 << 16)).toString('utf8'));
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw fsError('ENOENT', 'open', dir, undefined, 'not an OCI image layout (no oci-layout file)');
      throw fsError('EINVAL', 'open', dir, undefined, `not an OCI image layout: ${(e as Error).message}`);
    }
    const version = (v as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion;
    if (typeof version !== 'string' || !version.startsWith('1.')) {
      throw fsError('EINVAL', 'open', dir, undefined, `unsupported OCI image layout version ${JSON.stringify(version)}`);
    }
    return new OciLayout(root);
  }

  /** Opens a layout, creating an empty one (oci-layout, index.json, blobs/sha256) when absent. */
  static async create(dir: string): Promise<OciLayout> {
    const root = path.resolve(dir);
    await fsp.mkdir(path.join(root, 'blobs', 'sha256'), { recursive: true });
    if (!fs.existsSync(path.join(root, 'oci-layout'))) {
      await atomicWrite(path.join(root, 'oci-layout'), jsonBytes({ imageLayoutVersion: OCI_LAYOUT_VERSION }));
    }
    if (!fs.existsSync(path.join(root, 'index.json'))) {
      await atomicWrite(path.join(root, 'index.json'), jsonBytes({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] }));
    }
    return OciLayout.open(root);
  }

  blobRel(digest: Digest): string {
    const { algorithm, hex } = parseDigest(digest);
    return `blobs/${algorithm}/${hex}`;
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    try {
      return (await fsp.lstat(path.join(this.dir, this.blobRel(digest)))).isFile();
    } catch {
      return false;
    }
  }

  async readIndex(): Promise<ImageIndex> {
    return parseIndex(await readInside(this.dir, 'index.json'), path.join(this.dir, 'index.json'));
  }

  /**
   * A blob as a stream, verified while it flows: the stream fails with EINTEGRITY at its end if the
   * content does not match the descriptor's digest (or as soon as it exceeds the size given).
   * A missing blob fails with ENOENT naming it.
   */
  async openBlob(desc: { digest: Digest; size?: number }): Promise<Readable> {
    let opened: { stream: Readable; size: number };
    try {
      opened = await openInside(this.dir, this.blobRel(desc.digest));
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw fsError('ENOENT', 'open', this.dir, undefined, `blob ${desc.digest} is missing from the layout`);
      throw e;
    }
    const check = new DigestStream({ expect: desc.digest, ...(desc.size !== undefined && desc.size >= 0 ? { expectSize: desc.size } : {}), what: 'blob', path: desc.digest });
    opened.stream.on('error', (e) => check.destroy(e));
    check.on('close', () => opened.stream.destroy());
    // A mismatch found before the reader listens stays in stream.errored (no uncaught 'error').
    check.on('error', () => undefined);
    return opened.stream.pipe(check);
  }

  /** Reads a small blob (JSON) whole, verified. */
  async readBlob(desc: { digest: Digest; size?: number }, max = 32 << 20): Promise<Buffer> {
    if (desc.size !== undefined && desc.size > max) throw fsError('EFBIG', 'read', desc.digest, undefined, `metadata blob of ${desc.size} bytes is too large`);
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of await this.openBlob(desc)) {
      n += (c as Buffer).length;
      if (n > max) throw fsError('EFBIG', 'read', desc.digest, undefined, 'metadata blob is too large');
      chunks.push(c as Buffer);
    }
    return Buffer.concat(chunks);
  }

  /**
   * Writes a blob from a stream or bytes: to a temp file, hashed as it flows, renamed into place.
   * `through` are transforms applied before hashing (e.g. a diffID check and a compressor).
   */
  async writeBlob(source: Readable | Buffer, expect?: Digest, through: readonly Transform[] = []): Promise<{ digest: Digest; size: number }> {
    const tmpDir = path.join(this.dir, 'blobs');
    await fsp.mkdir(tmpDir, { recursive: true });
    const tmp = path.join(tmpDir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    const hash = new DigestStream(expect ? { expect, what: 'blob' } : {});
    try {
      const src = Buffer.isBuffer(source) ? Readable.from([source]) : source;
      const streams = [src, ...through, hash, fs.createWriteStream(tmp, { flags: 'wx', mode: 0o644 })];
      await pipeline(streams as unknown as [Readable, Writable]);
      const digest = hash.digest();
      const dest = path.join(this.dir, this.blobRel(digest));
      await fsp.mkdir(path.dirname(dest), { recursive: true });
      await fsp.rename(tmp, dest);
      return { digest, size: hash.bytes };
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw e;
    }
  }

  /** Writes a JSON value as a blob; returns its descriptor. */
  async writeJson(mediaType: string, value: unknown, annotations?: Record<string, string>): Promise<Descriptor> {
    const bytes = jsonBytes(value);
    await this.writeBlob(bytes);
    return descriptorOf(mediaType, bytes, annotations);
  }

  /** The names in index.json (`org.opencontainers.image.ref.name`), in index order. */
  async refs(): Promise<string[]> {
    const out: string[] = [];
    for (const d of (await this.readIndex()).manifests) {
      const n = d.annotations?.[REF_NAME_ANNOTATION];
      if (n !== undefined) out.push(n);
    }
    return out;
  }

  /**
   * Finds the manifest for `ref` (a ref.name in index.json; when omitted, the layout's only image),
   * descending into image indexes (manifest lists) to the host platform's manifest.
   */
  async resolve(ref?: string): Promise<Descriptor> {
    const index = await this.readIndex();
    let candidates = index.manifests;
    if (ref !== undefined) candidates = candidates.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === ref);
    if (candidates.length === 0) {
      const known = (await this.refs()).join(', ') || 'none';
      throw fsError('ENOENT', 'resolve', this.dir, undefined, ref === undefined ? 'the layout holds no image' : `no image named '${ref}' in the layout (names: ${known})`);
    }
    if (candidates.length > 1 && ref === undefined) {
      throw fsError('EINVAL', 'resolve', this.dir, undefined, `the layout holds ${candidates.length} images: name one (${(await this.refs()).join(', ')})`);
    }
    return this.descend(candidates[0]!, 0);
  }

  private async descend(d: Descriptor, depth: number): Promise<Descriptor> {
    if (MANIFEST_TYPES.includes(d.mediaType)) return d;
    if (!INDEX_TYPES.includes(d.mediaType)) throw fsError('ENOTSUP', 'resolve', d.digest, undefined, `unsupported manifest media type ${d.mediaType}`);
    if (depth > 4) throw fsError('ELOOP', 'resolve', d.digest, undefined, 'image indexes nested too deeply');
    const idx = parseIndex(await this.readBlob(d), d.digest);
    const arch = hostArchitecture();
    const match = idx.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === arch)
      ?? (idx.manifests.length === 1 ? idx.manifests[0] : undefined);
    if (!match) throw fsError('ENOENT', 'resolve', d.digest, undefined, `the image index has no manifest for linux/${arch}`);
    return this.descend(match, depth + 1);
  }

  /** Reads the image a manifest descriptor names: manifest and config verified, layers ready to stream. */
  /** `absent`: layer blobs the caller knows are missing and will not open (layers a store already has). */
  async readImage(manifestDesc: Descriptor, ref?: string, opts: { absent?: ReadonlySet<string> } = {}): Promise<SourceImage> {
    const manifestBytes = await this.readBlob(manifestDesc);
    const manifest: Manifest = parseManifest(manifestBytes, manifestDesc.digest);
    const configBytes = await this.readBlob(manifest.config);
    const config = parseImageConfig(configBytes, manifest.config.digest);
    const diffIDs = config.rootfs.diff_ids;
    if (diffIDs.length !== manifest.layers.length) {
      throw fsError('EINVAL', 'parse', manifestDesc.digest, undefined,
        `manifest lists ${manifest.layers.length} layers but the config has ${diffIDs.length} diff_ids`);
    }
    const layers: SourceLayer[] = manifest.layers.map((l, i) => ({
      diffID: diffIDs[i]!,
      digest: l.digest,
      size: l.size,
      mediaType: l.mediaType,
      compression: compressionOfMediaType(l.mediaType),
      open: () => this.openBlob(l),
    }));
    // A manifest that references a missing blob is refused before any layer is imported.
    for (const l of manifest.layers) {
      if (!opts.absent?.has(l.digest) && !(await this.hasBlob(l.digest))) throw fsError('ENOENT', 'open', this.dir, undefined, `manifest references missing blob ${l.digest}`);
    }
    return {
      ...(ref !== undefined ? { ref } : {}),
      manifest,
      manifestDigest: manifestDesc.digest,
      config,
      configBytes,
      configDigest: manifest.config.digest,
      layers,
    };
  }

  /** Sets `ref` to a manifest in index.json (atomically; other images keep their names). */
  async setRef(ref: string, desc: Descriptor): Promise<void> {
    const index = await this.readIndex();
    const manifests = index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] !== ref);
    manifests.push({ mediaType: desc.mediaType, digest: desc.digest, size: desc.size, annotations: { [REF_NAME_ANNOTATION]: ref } });
    await atomicWrite(path.join(this.dir, 'index.json'), jsonBytes({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
  }

  /**
   * Writes one layer blob from its uncompressed tar: hashed (diffID, checked against `expectDiffID`)
   * and compressed as it streams. Returns its descriptor and diffID.
   */
  async writeLayer(layer: LayerInput, opts: { compression?: 'none' | 'gzip'; mediaTypes?: 'oci' | 'docker' } = {}): Promise<{ descriptor: Descriptor; diffID: Digest }> {
    const compression = opts.compression ?? 'gzip';
    const diff = new DigestStream({ ...(layer.diffID ? { expect: layer.diffID } : {}), what: 'layer diffID' });
    const blob = await this.writeBlob(layer.open(), undefined, compression === 'gzip' ? [diff, gzipCompressor()] : [diff]);
    return { descriptor: { mediaType: layerMediaType(opts.mediaTypes ?? 'oci', compression), digest: blob.digest, size: blob.size }, diffID: diff.digest() };
  }

  /**
   * Writes config and manifest for layer blobs already in the layout, and (with `ref`) names the
   * image. A config given as bytes is written exactly as it is (so the image ID stays the same).
   */
  async writeManifest(config: ImageConfig | Buffer, layers: readonly Descriptor[], opts: WriteImageOptions = {}): Promise<{ manifest: Descriptor; config: Descriptor }> {
    const family = opts.mediaTypes ?? 'oci';
    const configBytes = Buffer.isBuffer(config) ? config : jsonBytes(config);
    const parsed = Buffer.isBuffer(config) ? parseImageConfig(config) : config;
    if (parsed.rootfs.diff_ids.length !== layers.length) {
      throw fsError('EINVAL', 'export', undefined, undefined, `config lists ${parsed.rootfs.diff_ids.length} diff_ids for ${layers.length} layers`);
    }
    for (const l of layers) {
      if (!(await this.hasBlob(l.digest))) throw fsError('ENOENT', 'export', this.dir, undefined, `layer blob ${l.digest} is not in the layout`);
    }
    await this.writeBlob(configBytes);
    const configDesc = descriptorOf(family === 'docker' ? MediaType.dockerConfig : MediaType.ociConfig, configBytes);
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: family === 'docker' ? MediaType.dockerManifest : MediaType.ociManifest,
      config: configDesc,
      layers: [...layers],
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
    };
    const manifestDesc = await this.writeJson(manifest.mediaType!, manifest);
    if (opts.ref !== undefined) await this.setRef(opts.ref, manifestDesc);
    return { manifest: manifestDesc, config: configDesc };
  }

  /**
   * Writes a whole image: the layers (see writeLayer), then config and manifest. The config's
   * rootfs.diff_ids, when given, must match the layers (EINTEGRITY otherwise); when absent they are
   * filled in from the layers as written.
   */
  async writeImage(
    config: Omit<ImageConfig, 'rootfs'> & { rootfs?: ImageConfig['rootfs'] },
    layers: readonly LayerInput[],
    opts: WriteImageOptions = {},
  ): Promise<{ manifest: Descriptor; config: Descriptor; diffIDs: Digest[] }> {
    const expected = config.rootfs?.diff_ids;
    if (expected && expected.length !== layers.length) {
      throw fsError('EINVAL', 'export', undefined, undefined, `config lists ${expected.length} diff_ids for ${layers.length} layers`);
    }
    const descs: Descriptor[] = [];
    const diffIDs: Digest[] = [];
    for (let i = 0; i < layers.length; i++) {
      const l = layers[i]!;
      const want = l.diffID ?? expected?.[i];
      const w = await this.writeLayer({ open: l.open, ...(want ? { diffID: want } : {}) }, opts);
      descs.push(w.descriptor);
      diffIDs.push(w.diffID);
    }
    const full: ImageConfig = { ...config, rootfs: { type: 'layers', diff_ids: diffIDs } } as ImageConfig;
    const r = await this.writeManifest(full, descs, opts);
    return { ...r, diffIDs };
  }
}

/** An OCI archive: the layout directory as a deterministic tar (leftover temp files excluded). */
export async function ociArchiveStream(layoutDir: string): Promise<Readable> {
  await OciLayout.open(layoutDir);
  const entries = (await directoryEntries(layoutDir)).filter((e) => !path.basename(e.name).startsWith('.tmp-') && !/\.tmp-/.test(e.name));
  return archiveStream(entries);
}

/** Writes a file atomically: temp file in the same directory, fsync, rename. */
export async function atomicWrite(file: string, data: Buffer): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await fsp.open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
}
