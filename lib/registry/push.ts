// push: sends an image from an OCI image layout directory to a registry: selects the manifest (or
// index) by tag, uploads the blobs each manifest needs (concurrently), then PUTs manifests, the tag last.
import { fsError } from '../errors.js';
import { RegistryClient, type ClientOptions } from './client.js';
import { readBlob, resolveRef } from './layout.js';
import { isIndexType, isManifestType, parseManifest, type Descriptor } from './manifest.js';
import { mapPool } from './pool.js';
import type { ProgressCallback } from './progress.js';
import { formatReference, parseReference, type Reference } from './reference.js';
import { uploadBlob, type UploadOutcome } from './upload.js';

export interface PushOptions extends ClientOptions {
  /** The `org.opencontainers.image.ref.name` to push from the layout (default the reference's tag). */
  refName?: string;
  /** A repository on the same registry that may already hold the blobs (cross-repository mount). */
  from?: string;
  /** Blobs uploaded at once (default 3). */
  concurrency?: number;
  /** Blobs of at least this size are uploaded in chunks (default 64 MiB). */
  chunkedThreshold?: number;
  /** Bytes per chunk (default 16 MiB). */
  chunkSize?: number;
  onProgress?: ProgressCallback;
}

export interface PushResult {
  reference: Reference;
  /** The digest of the pushed manifest or index. */
  digest: string;
  mediaType: string;
  /** What happened to each blob. */
  blobs: { digest: string; outcome: UploadOutcome }[];
}

/**
 * Pushes the image tagged `refName` (default: the reference's tag) in the OCI layout at
 * `layoutDir` to `reference`. For an index every platform's manifest goes up first, by digest.
 */
export async function push(layoutDir: string, reference: string | Reference, opts: PushOptions = {}): Promise<PushResult> {
  const ref = typeof reference === 'string' ? parseReference(reference) : reference;
  const refName = opts.refName ?? ref.tag;
  const root = await resolveRef(layoutDir, refName !== undefined ? { refName } : { digest: ref.digest! });
  if (ref.digest !== undefined && ref.digest !== root.digest) {
    throw fsError('EINVAL', 'push', formatReference(ref), undefined,
      `the layout's ${refName ?? 'image'} has digest ${root.digest}, not the ${ref.digest} the reference names`);
  }
  const scopes = [`repository:${ref.repository}:pull,push`];
  if (opts.from !== undefined) scopes.push(`repository:${opts.from}:pull`);
  const client = RegistryClient.forReference(ref, { ...opts, scopes: [...scopes, ...(opts.scopes ?? [])] });
  const outcomes = new Map<string, UploadOutcome>();
  const pushManifest = async (desc: Descriptor, bytes: Buffer, target: string): Promise<void> => {
    const parsed = parseManifest(bytes, desc.mediaType, `${layoutDir} ${desc.digest}`);
    if (parsed.kind !== 'manifest') throw fsError('EINVAL', 'push', layoutDir, undefined, `${desc.digest} is not an image manifest`);
    const blobs: { desc: Descriptor; kind: 'config' | 'layer' }[] = [];
    for (const [d, kind] of [[parsed.manifest.config, 'config'], ...parsed.manifest.layers.map((l) => [l, 'layer'])] as [Descriptor, 'config' | 'layer'][]) {
      if (!outcomes.has(d.digest) && !blobs.some((b) => b.desc.digest === d.digest)) blobs.push({ desc: d, kind });
    }
    const results = await mapPool(blobs, opts.concurrency ?? 3, (b) => uploadBlob(client, layoutDir, b.desc, { ...opts, kind: b.kind }));
    blobs.forEach((b, i) => outcomes.set(b.desc.digest, results[i]!));
    await client.putManifest(target, bytes, parsed.mediaType);
  };
  try {
    await client.ping();
    const bytes = await readBlob(layoutDir, root.digest);
    const target = ref.tag ?? root.digest;
    if (isIndexType(root.mediaType)) {
      const parsed = parseManifest(bytes, root.mediaType, `${layoutDir} ${root.digest}`);
      if (parsed.kind !== 'index') throw fsError('EINVAL', 'push', layoutDir, undefined, `${root.digest} is not an index`);
      for (const child of parsed.index.manifests) {
        if (!isManifestType(child.mediaType)) {
          throw fsError('ENOTSUP', 'push', layoutDir, undefined, `index entry ${child.digest} is ${child.mediaType}; only image manifests are pushed`);
        }
        await pushManifest(child, await readBlob(layoutDir, child.digest), child.digest);
      }
      await client.putManifest(target, bytes, parsed.mediaType);
    } else {
      await pushManifest(root, bytes, target);
    }
    return {
      reference: ref, digest: root.digest, mediaType: root.mediaType,
      blobs: [...outcomes].map(([digest, outcome]) => ({ digest, outcome })),
    };
  } finally {
    client.close();
  }
}
