// Uploads one blob from an OCI layout to a registry: HEAD first (skip what it has), a cross-repository
// mount when a source repository is known, then a monolithic PUT or a chunked PATCH series and the closing PUT.
import { createReadStream } from 'node:fs';
import { Transform, pipeline } from 'node:stream';
import type { RegistryClient } from './client.js';
import { blobPath, hasBlob } from './layout.js';
import { isNonDistributable, type Descriptor } from './manifest.js';
import type { ProgressCallback, ProgressEvent } from './progress.js';
import { withRetry, type RetryOptions } from './retry.js';
import { fsError } from '../errors.js';

export interface UploadOptions extends RetryOptions {
  kind: ProgressEvent['kind'];
  /** Another repository of the same registry that may hold the blob (cross-repository mount). */
  from?: string;
  /** Blobs of at least this many bytes go up in chunks (default 64 MiB). */
  chunkedThreshold?: number;
  /** Size of one PATCH (default 16 MiB). */
  chunkSize?: number;
  onProgress?: ProgressCallback;
  onRetry?: (e: unknown, attempt: number, delayMs: number) => void;
}

export type UploadOutcome = 'exists' | 'mounted' | 'uploaded' | 'skipped';

function withDigest(location: URL, digest: string): URL {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u;
}

/**
 * Makes sure the registry holds blob `desc` from the layout at `dir`. A failed attempt restarts
 * the upload session from the beginning (with backoff) when the failure looks transient.
 */
export async function uploadBlob(client: RegistryClient, dir: string, desc: Descriptor, o: UploadOptions): Promise<UploadOutcome> {
  const report = (state: ProgressEvent['state'], done: number): void =>
    o.onProgress?.({ digest: desc.digest, kind: o.kind, state, done, total: desc.size });
  const path = blobPath(dir, desc.digest);
  if (!(await hasBlob(dir, desc.digest))) {
    if (isNonDistributable(desc.mediaType)) {
      report('done', 0);
      return 'skipped';
    }
    throw fsError('ENOENT', 'uploadBlob', path, undefined, `blob ${desc.digest} is missing from the OCI layout`);
  }
  if (!(await hasBlob(dir, desc.digest, desc.size))) {
    throw fsError('EINTEGRITY', 'uploadBlob', path, undefined, `blob ${desc.digest} in the layout is not ${desc.size} bytes long`);
  }
  try {
    return await withRetry(async () => {
      if ((await client.blobSize(desc.digest)) !== undefined) {
        report('exists', desc.size);
        return 'exists';
      }
      const session = await client.startUpload(o.from !== undefined ? { digest: desc.digest, from: o.from } : undefined);
      if (session.mounted) {
        report('mounted', desc.size);
        return 'mounted';
      }
      let location = session.location;
      const counted = (start: number, end: number) => () => {
        let n = start;
        return pipeline(createReadStream(path, { start, end }), new Transform({
          transform(chunk: Buffer, _enc, cb) {
            n += chunk.length;
            report('uploading', n);
            cb(null, chunk);
          },
        }), () => undefined);
      };
      report('uploading', 0);
      const threshold = o.chunkedThreshold ?? 64 * 1024 * 1024;
      if (desc.size < threshold || desc.size === 0) {
        const res = await client.send('uploadBlob', {
          method: 'PUT', path: withDigest(location, desc.digest), retry: false, expect: [201, 204],
          headers: { 'content-type': 'application/octet-stream' },
          body: { length: desc.size, open: counted(0, Math.max(0, desc.size - 1)) },
        });
        res.body.resume();
      } else {
        const chunk = Math.max(1, o.chunkSize ?? 16 * 1024 * 1024);
        for (let offset = 0; offset < desc.size; offset += chunk) {
          const end = Math.min(desc.size, offset + chunk) - 1;
          const res = await client.send('uploadChunk', {
            method: 'PATCH', path: location, retry: false, expect: [202, 204],
            headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${end}` },
            body: { length: end - offset + 1, open: counted(offset, end) },
          });
          res.body.resume();
          location = client.location(res, 'uploadChunk');
        }
        const res = await client.send('uploadBlob', {
          method: 'PUT', path: withDigest(location, desc.digest), retry: false, expect: [201, 204],
        });
        res.body.resume();
      }
      report('done', desc.size);
      return 'uploaded';
    }, o, o.onRetry);
  } catch (e) {
    report('failed', 0);
    throw e;
  }
}
