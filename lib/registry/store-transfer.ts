// Registries and the store: `pullImage` fetches an image into a scratch OCI layout under the store
// (skipping layers the store already has) and imports it; `pushImage` exports an image and pushes it.
import { openScratch } from '../store/scratch.js';
import type { Store } from '../store/store.js';
import type { ImageRecord } from '../store/meta.js';
import { chainIDs } from '../layers/digest.js';
import { parseImageConfig } from '../layers/image-config.js';
import { OciLayout } from '../layers/oci-layout.js';
import { exportImage, importImage } from '../layers/image-transfer.js';
import type { ImageSource } from '../layers/image-source.js';
import { isErrno } from '../errors.js';
import { pull, type PullOptions, type PullResult } from './pull.js';
import { push, type PushOptions, type PushResult } from './push.js';
import { familiarReference, parseReference } from './reference.js';

export interface StorePullResult {
  /** The image as recorded in the store, named by the familiar reference (`ubuntu:latest`, `host:5000/app:v1`). */
  image: ImageRecord;
  /** The manifest digest the registry served (what `ufs pull REF@DIGEST` would name). */
  manifestDigest: string;
  pull: PullResult;
  layersImported: number;
  layersReused: number;
}

/** Whether the store has the layer with this chainID. */
async function hasLayer(store: Store, chain: string): Promise<boolean> {
  try {
    return (await store.layer(chain)).chainID === chain;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return false;
    throw e;
  }
}

/**
 * Pulls `reference` from its registry into the store and names it as Docker does (`ubuntu` →
 * `ubuntu:latest`, `host:5000/team/app:v1` as it is; a digest-only reference gets no name). Layers the
 * store already has are not downloaded; every blob is verified while it streams, every layer's diffID
 * while it is applied; on failure nothing of the image stays in the store.
 */
export async function pullImage(store: Store, reference: string, opts: PullOptions = {}): Promise<StorePullResult> {
  const ref = parseReference(reference);
  const scratch = await openScratch(store.root, 'pull');
  const dir = scratch.dir;
  const refName = 'pulled';
  try {
    const res = await pull(ref, dir, {
      ...opts,
      refName,
      skipLayers: async (configBytes, manifest) => {
        const chains = chainIDs(parseImageConfig(configBytes).rootfs.diff_ids);
        const skip = new Set<string>();
        for (let i = 0; i < manifest.layers.length && i < chains.length; i++) {
          if (await hasLayer(store, chains[i]!)) skip.add(manifest.layers[i]!.digest);
        }
        // A blob listed twice (the same layer at two depths) is fetched if any use of it is new.
        for (let i = 0; i < manifest.layers.length && i < chains.length; i++) {
          if (!(await hasLayer(store, chains[i]!))) skip.delete(manifest.layers[i]!.digest);
        }
        return skip;
      },
    });
    const layout = await OciLayout.open(dir);
    const absent = new Set(res.skipped);
    const source: ImageSource = {
      kind: 'oci-layout',
      refs: async () => [refName],
      image: async () => layout.readImage(await layout.resolve(refName), refName, { absent }),
      close: async () => undefined,
    };
    const tags = ref.tag !== undefined ? [familiarReference({ registry: ref.registry, repository: ref.repository, tag: ref.tag })] : [];
    const r = await importImage(store, source, { tags });
    return { image: r.image, manifestDigest: res.descriptor.digest, pull: res, layersImported: r.layersImported, layersReused: r.layersReused };
  } finally {
    await scratch.close();
  }
}

export interface StorePushResult extends PushResult {
  /**
   * Whether the config had to be rewritten on export: only when a layer has no tar-split record (a
   * store from before ufs kept them, or a tar it could not record) and so got new bytes and diffID.
   */
  rewritten: boolean;
}

/**
 * Pushes the store's image `image` (a name or ID) to `reference` (default: the image's own name
 * when that is a full reference). Layers go up gzip-compressed with OCI media types (Docker's
 * with `mediaTypes: 'docker'`).
 */
export async function pushImage(store: Store, image: string, reference?: string, opts: PushOptions & { mediaTypes?: 'oci' | 'docker' } = {}): Promise<StorePushResult> {
  const ref = parseReference(reference ?? image);
  const scratch = await openScratch(store.root, 'push');
  const dir = scratch.dir;
  try {
    const name = 'push';
    const { mediaTypes, ...pushOpts } = opts;
    const exported = await exportImage(store, image, dir, { name, compression: 'gzip', ...(mediaTypes ? { mediaTypes } : {}) });
    const res = await push(dir, ref, { ...pushOpts, refName: name });
    return { ...res, rewritten: exported.rewritten };
  } finally {
    await scratch.close();
  }
}
