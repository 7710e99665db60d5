// docker-save archives: reading manifest.json (+ repositories) with layers as legacy `<id>/layer.tar`
// folders or Docker 25's `blobs/sha256/<hex>`, and writing archives that `docker load`/skopeo accept.
import { Readable } from 'node:stream';
import { fsError, isErrno } from '../errors.js';
import { chainIDs, DigestStream, isDigest, sha256, type Digest } from './digest.js';
import { MediaType, jsonBytes, normalizeRef, parseImageConfig, parseJson, parseRef, type ImageConfig } from './image-config.js';
import { archiveStream, openInside, readInside, resolveInside, type ArchiveEntry } from './archive.js';
import type { OciLayout } from './oci-layout.js';
import type { SourceImage, SourceLayer } from './image-source.js';

interface ManifestEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

function invalid(why: string, path?: string): Error {
  return fsError('EINVAL', 'parse', path, undefined, `invalid docker-save archive: ${why}`);
}

/** The hex a member name carries when it is content-addressed (`<hex>.json`, `blobs/sha256/<hex>`). */
function addressedHex(name: string): string | null {
  const m = /^(?:blobs\/sha256\/)?([0-9a-f]{64})(?:\.json)?$/.exec(name.replace(/^\.\//, ''));
  return m ? m[1]! : null;
}

/** A docker-save archive extracted into a directory (see `extractArchive`). */
export class DockerArchive {
  private constructor(readonly dir: string, private readonly entries: ManifestEntry[]) {}

  static async open(dir: string): Promise<DockerArchive> {
    let raw: Buffer;
    try {
      raw = await readInside(dir, 'manifest.json');
    } catch (e) {
      if (isErrno(e, 'ENOENT')) {
        throw fsError('ENOTSUP', 'open', dir, undefined, 'docker-save archive without manifest.json (Docker before 1.10) is not supported');
      }
      throw e;
    }
    const v = parseJson(raw, 'docker-save manifest.json', dir);
    if (!Array.isArray(v)) throw invalid('manifest.json is not a list', dir);
    const entries: ManifestEntry[] = v.map((e: unknown, i) => {
      const o = e as Partial<Record<keyof ManifestEntry, unknown>> | null;
      if (typeof o !== 'object' || o === null || typeof o.Config !== 'string' || !Array.isArray(o.Layers) || !o.Layers.every((l) => typeof l === 'string')) {
        throw invalid(`manifest.json entry ${i} lacks Config or Layers`, dir);
      }
      const tags = Array.isArray(o.RepoTags) ? o.RepoTags.filter((t): t is string => typeof t === 'string') : [];
      return { Config: o.Config, RepoTags: tags, Layers: o.Layers as string[] };
    });
    await addLegacyNames(dir, entries);
    return new DockerArchive(dir, entries);
  }

  refs(): string[] {
    return this.entries.flatMap((e) => e.RepoTags);
  }

  /** The image tagged `ref` (`name:tag`, `name` meaning `name:latest`, or its ID), or the only image. */
  async image(ref?: string): Promise<SourceImage> {
    let entry: ManifestEntry | undefined;
    if (ref === undefined) {
      if (this.entries.length !== 1) {
        throw fsError('EINVAL', 'resolve', this.dir, undefined, `the archive holds ${this.entries.length} images: name one (${this.refs().join(', ') || 'untagged'})`);
      }
      entry = this.entries[0];
    } else {
      const want = normalizeRef(ref);
      entry = this.entries.find((e) => e.RepoTags.some((t) => t === ref || normalizeRef(t) === want))
        ?? this.entries.find((e) => { const hex = addressedHex(e.Config); return hex !== null && (ref === `sha256:${hex}` || (ref.length >= 12 && hex.startsWith(ref))); });
      if (!entry) throw fsError('ENOENT', 'resolve', this.dir, undefined, `no image '${ref}' in the archive (tags: ${this.refs().join(', ') || 'none'})`);
    }
    const e = entry!;
    const configBytes = await readInside(this.dir, e.Config);
    const configDigest = sha256(configBytes);
    const hex = addressedHex(e.Config);
    if (hex !== null && `sha256:${hex}` !== configDigest) {
      throw fsError('EINTEGRITY', 'verify', e.Config, undefined, `image config digest mismatch: expected sha256:${hex}, got ${configDigest}`);
    }
    const config: ImageConfig = parseImageConfig(configBytes, e.Config);
    const diffIDs = config.rootfs.diff_ids;
    if (diffIDs.length !== e.Layers.length) {
      throw invalid(`image ${e.Config} lists ${e.Layers.length} layers but its config has ${diffIDs.length} diff_ids`, this.dir);
    }
    const layers: SourceLayer[] = [];
    for (let i = 0; i < e.Layers.length; i++) {
      const rel = e.Layers[i]!;
      // Missing layers are refused before anything is imported.
      try {
        await resolveInside(this.dir, rel);
      } catch (err) {
        if (isErrno(err, 'ENOENT')) throw fsError('ENOENT', 'open', this.dir, undefined, `manifest.json references missing layer '${rel}'`);
        throw err;
      }
      const lhex = addressedHex(rel);
      const digest: Digest | undefined = lhex !== null ? `sha256:${lhex}` : undefined;
      layers.push({
        diffID: diffIDs[i]!,
        ...(digest ? { digest } : {}),
        size: -1,
        mediaType: MediaType.dockerLayer,
        compression: 'none',
        open: async () => {
          const { stream } = await openInside(this.dir, rel);
          if (!digest) return stream;
          const check = new DigestStream({ expect: digest, what: 'layer blob', path: rel });
          stream.on('error', (err) => check.destroy(err));
          check.on('close', () => stream.destroy());
          // A mismatch found before the reader listens stays in stream.errored (no uncaught 'error').
          check.on('error', () => undefined);
          return stream.pipe(check);
        },
      });
    }
    return {
      ...(ref !== undefined ? { ref } : e.RepoTags[0] !== undefined ? { ref: e.RepoTags[0] } : {}),
      config,
      configBytes,
      configDigest,
      layers,
    };
  }
}

/** Adds the names of the legacy `repositories` file ({repo: {tag: topLayerId}}) to the entries they name. */
async function addLegacyNames(dir: string, entries: ManifestEntry[]): Promise<void> {
  let repos: unknown;
  try {
    repos = parseJson(await readInside(dir, 'repositories', 1 << 20), 'docker-save repositories', dir);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return;
    throw e;
  }
  if (typeof repos !== 'object' || repos === null) return;
  for (const [repo, tags] of Object.entries(repos as Record<string, unknown>)) {
    if (typeof tags !== 'object' || tags === null) continue;
    for (const [tag, id] of Object.entries(tags as Record<string, unknown>)) {
      if (typeof id !== 'string') continue;
      const entry = entries.find((e) => { const top = e.Layers[e.Layers.length - 1]; return top !== undefined && top.replace(/^\.\//, '').split('/')[0] === id; });
      const name = `${repo}:${tag}`;
      if (entry && !entry.RepoTags.includes(name)) entry.RepoTags.push(name);
    }
  }
}

/** One image to write into a docker-save archive. */
export interface DockerArchiveImage {
  /** `name:tag` names (may be empty). */
  repoTags: string[];
  configBytes: Buffer;
  /** Layer tars as they go into `<id>/layer.tar` (uncompressed for the widest compatibility), bottom first. */
  layers: { diffID: Digest; size: number; open: () => Readable | Promise<Readable> }[];
}

/**
 * A docker-save archive (the format of Docker 1.10–24 and skopeo: `<id>/layer.tar` folders with
 * VERSION and json, `<config hex>.json`, manifest.json, repositories) as a deterministic tar
 * stream. Layers shared by several images are written once.
 */
export function dockerArchiveStream(images: readonly DockerArchiveImage[]): Readable {
  const entries: ArchiveEntry[] = [];
  const seenLayers = new Set<string>();
  const seenConfigs = new Set<string>();
  const manifest: ManifestEntry[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const img of images) {
    const config = parseImageConfig(img.configBytes);
    const diffIDs = img.layers.map((l) => l.diffID);
    if (diffIDs.join() !== config.rootfs.diff_ids.join()) {
      throw fsError('EINVAL', 'export', undefined, undefined, 'layers do not match the config\'s rootfs.diff_ids');
    }
    const chains = chainIDs(diffIDs);
    const ids: string[] = [];
    let parent = '';
    for (let i = 0; i < img.layers.length; i++) {
      const id = sha256(`${parent}\n${chains[i]!}`).slice('sha256:'.length);
      ids.push(id);
      if (!seenLayers.has(id)) {
        seenLayers.add(id);
        const l = img.layers[i]!;
        const legacy: Record<string, unknown> = { id, created: config.created ?? '1970-01-01T00:00:00Z' };
        if (parent !== '') legacy.parent = parent;
        if (i === img.layers.length - 1) {
          legacy.os = config.os;
          legacy.architecture = config.architecture;
          if (config.config) legacy.config = config.config;
        }
        entries.push({ name: id, type: 'directory' });
        entries.push({ name: `${id}/VERSION`, type: 'file', data: Buffer.from('1.0') });
        entries.push({ name: `${id}/json`, type: 'file', data: jsonBytes(legacy) });
        entries.push({ name: `${id}/layer.tar`, type: 'file', size: l.size, open: lazyStream(l.open) });
      }
      parent = id;
    }
    const configHex = sha256(img.configBytes).slice('sha256:'.length);
    if (!seenConfigs.has(configHex)) {
      seenConfigs.add(configHex);
      entries.push({ name: `${configHex}.json`, type: 'file', data: img.configBytes });
    }
    manifest.push({ Config: `${configHex}.json`, RepoTags: img.repoTags, Layers: ids.map((id) => `${id}/layer.tar`) });
    const top = ids[ids.length - 1];
    for (const t of img.repoTags) {
      const { name, tag } = parseRef(t);
      if (top !== undefined) (repositories[name] ??= {})[tag] = top;
    }
  }
  entries.push({ name: 'manifest.json', type: 'file', data: jsonBytes(manifest) });
  entries.push({ name: 'repositories', type: 'file', data: jsonBytes(repositories) });
  return archiveStream(entries);
}

/** A Readable that opens its source (sync or async) when first read. */
function lazyStream(open: () => Readable | Promise<Readable>): () => Readable {
  return () => {
    async function* gen(): AsyncGenerator<Buffer> {
      for await (const c of await open()) yield c as Buffer;
    }
    return Readable.from(gen(), { objectMode: false });
  };
}

/**
 * The images `refs` of an OCI layout as docker-save images (layers as stored in the layout: write
 * the layout with compression 'none' for archives every loader reads). `repoTags` gives the names.
 */
export async function dockerImagesFromLayout(layout: OciLayout, images: { ref: string; repoTags: string[] }[]): Promise<DockerArchiveImage[]> {
  const out: DockerArchiveImage[] = [];
  for (const { ref, repoTags } of images) {
    const img = await layout.readImage(await layout.resolve(ref), ref);
    out.push({
      repoTags,
      configBytes: img.configBytes,
      layers: img.layers.map((l) => {
        if (!l.digest || !isDigest(l.digest)) throw fsError('EINVAL', 'export', ref, undefined, 'layer without digest');
        return { diffID: l.diffID, size: l.size, open: () => l.open() };
      }),
    });
  }
  return out;
}
