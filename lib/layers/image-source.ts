// What an image source yields, whatever its format (OCI layout or archive, docker-save archive):
// the config, and layers to stream and verify; plus opening a source by sniffing its path.
import fsp from 'node:fs/promises';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fsError, isErrno } from '../errors.js';
import type { Digest } from './digest.js';
import type { Compression } from './compression.js';
import type { ImageConfig, Manifest } from './image-config.js';
import { extractArchive } from './archive.js';
import { OciLayout } from './oci-layout.js';
import { DockerArchive } from './docker-archive.js';

/** One layer of a source image. */
export interface SourceLayer {
  /** The diffID the config records for it (verified when applied: pass it as expectDiffID). */
  diffID: Digest;
  /** The blob digest, when the format records one (verified by `open()` while streaming). */
  digest?: Digest;
  /** The blob size in bytes, or -1 when unknown. */
  size: number;
  mediaType: string;
  /** The compression the media type announces (the bytes are what counts when applying). */
  compression: Compression;
  /** The layer blob as stored (maybe compressed), verified against `digest`/`size` as it streams. */
  open(): Promise<Readable>;
}

export interface SourceImage {
  /** The name the source gives the image (an OCI ref.name, or a docker RepoTag). */
  ref?: string;
  manifest?: Manifest;
  manifestDigest?: Digest;
  config: ImageConfig;
  /** The config exactly as stored: its sha256 is the image ID. */
  configBytes: Buffer;
  configDigest: Digest;
  /** Bottom layer first. */
  layers: SourceLayer[];
}

/** An opened image source; `close()` removes what opening it extracted. */
export interface ImageSource {
  readonly kind: 'oci-layout' | 'oci-archive' | 'docker-archive';
  /** Names of the images it holds. */
  refs(): Promise<string[]>;
  /** The image named `ref` (or the only one). */
  image(ref?: string): Promise<SourceImage>;
  close(): Promise<void>;
}

class OciSource implements ImageSource {
  constructor(readonly kind: 'oci-layout' | 'oci-archive', private readonly layout: OciLayout, private readonly cleanup?: () => Promise<void>) {}
  refs(): Promise<string[]> {
    return this.layout.refs();
  }
  async image(ref?: string): Promise<SourceImage> {
    return this.layout.readImage(await this.layout.resolve(ref), ref);
  }
  async close(): Promise<void> {
    await this.cleanup?.();
  }
}

class DockerSource implements ImageSource {
  readonly kind = 'docker-archive' as const;
  constructor(private readonly archive: DockerArchive, private readonly cleanup?: () => Promise<void>) {}
  async refs(): Promise<string[]> {
    return this.archive.refs();
  }
  image(ref?: string): Promise<SourceImage> {
    return this.archive.image(ref);
  }
  async close(): Promise<void> {
    await this.cleanup?.();
  }
}

async function openDir(dir: string, kindIfOci: 'oci-layout' | 'oci-archive', cleanup?: () => Promise<void>): Promise<ImageSource> {
  // A docker-save archive of Docker 25+ is also an OCI layout: its manifest.json (with RepoTags) wins.
  if (fs.existsSync(path.join(dir, 'manifest.json'))) return new DockerSource(await DockerArchive.open(dir), cleanup);
  if (fs.existsSync(path.join(dir, 'oci-layout'))) return new OciSource(kindIfOci, await OciLayout.open(dir), cleanup);
  throw fsError('EINVAL', 'open', dir, undefined, 'neither an OCI image layout (oci-layout) nor a docker-save archive (manifest.json)');
}

/**
 * Opens an image source from a path: an OCI layout directory, an extracted docker-save directory,
 * or a tar file (plain or compressed) holding either; a tar is extracted to a private temp dir.
 */
export async function openImageSource(p: string): Promise<ImageSource> {
  let st: fs.Stats;
  try {
    st = await fsp.stat(p);
  } catch (e) {
    if (isErrno(e)) throw fsError(e.code, 'open', p);
    throw e;
  }
  if (st.isDirectory()) return openDir(path.resolve(p), 'oci-layout');
  const { dir, cleanup } = await extractArchive(fs.createReadStream(p), p);
  try {
    return await openDir(dir, 'oci-archive', cleanup);
  } catch (e) {
    await cleanup();
    throw e;
  }
}
