// pull: fetches an image from a registry into an OCI image layout directory: resolves the reference,
// picks this machine's (or the asked) platform from an index, downloads config and layers concurrently.
import { RegistryClient, type ClientOptions } from './client.js';
import { downloadBlob } from './download.js';
import { addToIndex, cleanPartial, initLayout, readBlob, writeBlob } from './layout.js';
import {
  formatPlatform, hostPlatform, isManifestType, parseManifest, parsePlatform, selectPlatform,
  type Descriptor, type ImageManifest, type Platform,
} from './manifest.js';
import { mapPool } from './pool.js';
import type { ProgressCallback } from './progress.js';
import { RegistryError } from './errors.js';
import { formatReference, parseReference, type Reference } from './reference.js';

export interface PullOptions extends ClientOptions {
  /** The platform to choose from an index: 'linux/arm64/v8' or a Platform; default this machine's. */
  platform?: string | Platform;
  /** Blobs downloaded at once (default 3). */
  concurrency?: number;
  onProgress?: ProgressCallback;
  /** The `org.opencontainers.image.ref.name` to record in index.json (default the reference's tag). */
  refName?: string;
  /**
   * Called with the verified config once it is in the layout, before any layer is fetched: returns
   * the layer blob digests not to fetch (e.g. layers a store already has). The layout then lacks them.
   */
  skipLayers?: (config: Buffer, manifest: ImageManifest) => Promise<Set<string>> | Set<string>;
}

export interface PullResult {
  reference: Reference;
  /** The index.json entry written for the image manifest. */
  descriptor: Descriptor;
  manifest: ImageManifest;
  /** The digest of the index the manifest was chosen from, when the reference named an index. */
  indexDigest?: string;
  /** Blobs fetched now, and blobs the layout already had. */
  downloaded: string[];
  existing: string[];
  /** Layer blobs not fetched because `skipLayers` named them. */
  skipped: string[];
}

function wantPlatform(p: string | Platform | undefined): Platform {
  if (p === undefined) return hostPlatform();
  return typeof p === 'string' ? parsePlatform(p) : p;
}

/**
 * Pulls `reference` into the OCI layout at `layoutDir` (created if needed). Blobs already in the
 * layout are not fetched again; nothing unverified ever lands in blobs/; index.json is updated last.
 */
export async function pull(reference: string | Reference, layoutDir: string, opts: PullOptions = {}): Promise<PullResult> {
  const ref = typeof reference === 'string' ? parseReference(reference) : reference;
  const platform = wantPlatform(opts.platform);
  const client = RegistryClient.forReference(ref, opts);
  try {
    await client.ping();
    let fetched = await client.getManifest(ref.digest ?? ref.tag ?? 'latest');
    let parsed = parseManifest(fetched.bytes, fetched.mediaType, formatReference(ref));
    let chosen: Descriptor | undefined;
    let indexDigest: string | undefined;
    for (let depth = 0; parsed.kind === 'index'; depth++) {
      if (depth >= 2) throw new RegistryError({ op: 'getManifest', registry: ref.registry, repository: ref.repository, message: 'indexes nested too deeply' });
      indexDigest ??= fetched.digest;
      chosen = selectPlatform(parsed.index, platform, formatReference(ref));
      fetched = await client.getManifest(chosen.digest);
      parsed = parseManifest(fetched.bytes, fetched.mediaType || chosen.mediaType, `${formatReference(ref)} (${formatPlatform(platform)})`);
    }
    if (!isManifestType(parsed.mediaType)) {
      throw new RegistryError({ op: 'getManifest', registry: ref.registry, repository: ref.repository, message: `unexpected ${parsed.mediaType}` });
    }
    const manifest = parsed.manifest;
    await initLayout(layoutDir);
    const blobs: { desc: Descriptor; kind: 'config' | 'layer' }[] = [{ desc: manifest.config, kind: 'config' }];
    const download = (b: { desc: Descriptor; kind: 'config' | 'layer' }): Promise<'exists' | 'downloaded'> =>
      downloadBlob(client, layoutDir, b.desc, { ...opts, kind: b.kind });
    // The config first when the caller wants to choose layers by it; else it goes with the layers.
    const first = opts.skipLayers ? [await download(blobs[0]!)] : [];
    const skip = opts.skipLayers ? await opts.skipLayers(await readBlob(layoutDir, manifest.config.digest), manifest) : new Set<string>();
    const seen = new Set([manifest.config.digest]);
    for (const l of manifest.layers) {
      if (!seen.has(l.digest) && !skip.has(l.digest)) blobs.push({ desc: l, kind: 'layer' });
      seen.add(l.digest);
    }
    for (const d of skip) opts.onProgress?.({ digest: d, kind: 'layer', state: 'exists', done: 0, total: 0 });
    const outcomes = [...first, ...await mapPool(blobs.slice(first.length), opts.concurrency ?? 3, download)];
    await writeBlob(layoutDir, fetched.bytes, fetched.digest);
    const desc: Descriptor = { mediaType: parsed.mediaType, digest: fetched.digest, size: fetched.bytes.length };
    if (chosen?.platform !== undefined) desc.platform = chosen.platform;
    const refName = opts.refName ?? ref.tag;
    const descriptor = await addToIndex(layoutDir, desc, refName);
    const result: PullResult = {
      reference: ref, descriptor, manifest,
      downloaded: blobs.filter((_, i) => outcomes[i] === 'downloaded').map((b) => b.desc.digest),
      existing: blobs.filter((_, i) => outcomes[i] === 'exists').map((b) => b.desc.digest),
      skipped: [...skip],
    };
    if (indexDigest !== undefined) result.indexDigest = indexDigest;
    return result;
  } finally {
    client.close();
    await cleanPartial(layoutDir).catch(() => undefined);
  }
}
