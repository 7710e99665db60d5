// The store's metadata: one JSON document (meta.json) holding the driver, layers, images and
// containers, rewritten atomically as a whole so that every change is one rename.
import path from 'node:path';
import type { VolumeSpec } from '../options.js';
import type { Digest } from '../layers/digest.js';
import { readJson, writeJsonAtomic } from './atomic.js';
import { fsError } from '../errors.js';

export const META_FILE = 'meta.json';
export const META_VERSION = 1;

export interface LayerRecord {
  /** The layer's identity in the store: chainID(parent chain + this diffID). */
  chainID: Digest;
  /** sha256 of the uncompressed tar the layer was made from. */
  diffID: Digest;
  /** The chainID of the layer below, or null for a base layer. */
  parent: Digest | null;
  /** The driver's id for the layer. */
  cacheID: string;
  /** Bytes of file data the layer holds (its diff size). */
  size: number;
  created: string;
  /**
   * The staging session of the image import that recorded it, until that import records its image
   * (addImage clears it): such layers are not listed, and check --repair removes them once that
   * session's process is gone.
   */
  importing?: string;
}

export interface ImageRecord {
  /** The digest of the image config: the image ID. */
  id: Digest;
  /** chainIDs of the image's layers, bottom first. */
  layers: Digest[];
  /** `repository:tag` names. */
  tags: string[];
  created: string;
}

export interface ContainerRecord {
  /** 64 hex digits. */
  id: string;
  name: string;
  /** The image ID it was created from. */
  image: Digest;
  /** The chainID of the image's top layer (the container layer's parent), or null for an empty image. */
  parent: Digest | null;
  /** The driver's id for the read-write layer. */
  rwLayer: string;
  volumes: VolumeSpec[];
  created: string;
}

export interface StoreMeta {
  version: number;
  /** The storage driver that owns the layers. */
  driver: string;
  created: string;
  layers: Record<string, LayerRecord>;
  images: Record<string, ImageRecord>;
  containers: Record<string, ContainerRecord>;
}

export function emptyMeta(driver: string): StoreMeta {
  return { version: META_VERSION, driver, created: new Date().toISOString(), layers: {}, images: {}, containers: {} };
}

export async function loadMeta(root: string): Promise<StoreMeta | null> {
  const m = await readJson<StoreMeta>(path.join(root, META_FILE));
  if (m === null) return null;
  if (typeof m !== 'object' || typeof m.driver !== 'string' || typeof m.layers !== 'object') {
    throw fsError('EINVAL', 'open', path.join(root, META_FILE), undefined, 'not a ufs store metadata file');
  }
  if (m.version > META_VERSION) {
    throw fsError('ENOTSUP', 'open', root, undefined, `store format ${m.version} is newer than this ufs understands (${META_VERSION}); upgrade ufs`);
  }
  m.images ??= {};
  m.containers ??= {};
  return m;
}

export function saveMeta(root: string, m: StoreMeta): Promise<void> {
  return writeJsonAtomic(path.join(root, META_FILE), m);
}
