// Downloads one blob into an OCI layout: streamed to a partial file while hashing (never buffered
// whole), resumed with Range or restarted after a network failure, renamed into blobs/ only once verified.
import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fsError } from '../errors.js';
import type { RegistryClient } from './client.js';
import { RegistryError } from './errors.js';
import { blobPath, hasBlob, partialPath } from './layout.js';
import type { Descriptor } from './manifest.js';
import type { ProgressCallback, ProgressEvent } from './progress.js';
import { backoffMs, isRetryable, type RetryOptions } from './retry.js';

export interface DownloadOptions extends RetryOptions {
  kind: ProgressEvent['kind'];
  onProgress?: ProgressCallback;
  onRetry?: (e: unknown, attempt: number, delayMs: number) => void;
}

/** The error Node's own APIs reject with when their AbortSignal fires. */
function abortError(digest: string): Error {
  const e = fsError('ABORT_ERR', 'getBlob', digest, undefined, 'The operation was aborted');
  e.name = 'AbortError';
  return e;
}

/** `bytes start-end/total` -> start, or undefined. */
function rangeStart(header: string | undefined): number | undefined {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * Makes sure the layout holds the blob `desc`: skipped when present with the right size, else
 * fetched and verified. Resolves 'exists' or 'downloaded'. On failure no file is left in blobs/
 * nor in the partial area; a digest mismatch rejects with code EINTEGRITY.
 */
export async function downloadBlob(client: RegistryClient, dir: string, desc: Descriptor, o: DownloadOptions): Promise<'exists' | 'downloaded'> {
  const report = (state: ProgressEvent['state'], done: number): void =>
    o.onProgress?.({ digest: desc.digest, kind: o.kind, state, done, total: desc.size });
  if (await hasBlob(dir, desc.digest, desc.size)) {
    report('exists', desc.size);
    return 'exists';
  }
  const alg = desc.digest.split(':')[0]!;
  const final = blobPath(dir, desc.digest);
  const partial = partialPath(dir, desc.digest);
  await mkdir(partial.dir, { recursive: true });
  let fh: FileHandle | undefined;
  let hash: Hash = createHash(alg);
  let done = 0;
  const restart = async (): Promise<void> => {
    await fh?.truncate(0);
    hash = createHash(alg);
    done = 0;
  };
  const integrity = (message: string): RegistryError => new RegistryError({
    code: 'EINTEGRITY', op: 'getBlob', registry: client.registry, repository: client.repository, message,
  });
  try {
    fh = await open(partial.path, 'w+');
    report('downloading', 0);
    let failures = 0;
    let furthest = 0;
    for (;;) {
      try {
        const res = await client.openBlob(desc.digest, done);
        if (done > 0) {
          const start = res.status === 206 ? rangeStart(res.headers['content-range'] as string | undefined) : 0;
          if (start !== done) await restart(); // the server ignored our Range: start over
          if (res.status === 206 && start !== done) {
            res.body.resume();
            throw fsError('ECONNRESET', 'getBlob', desc.digest, undefined, 'unexpected Content-Range; restarting');
          }
        }
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          if (done + chunk.length > desc.size) {
            res.body.destroy();
            throw integrity(`blob ${desc.digest} is longer than its descriptor's ${desc.size} bytes`);
          }
          await fh.write(chunk, 0, chunk.length, done);
          hash.update(chunk);
          done += chunk.length;
          report('downloading', done);
        }
        if (done < desc.size) {
          throw fsError('ECONNRESET', 'getBlob', desc.digest, undefined, `connection closed after ${done} of ${desc.size} bytes`);
        }
        break;
      } catch (e) {
        if (o.signal?.aborted) throw abortError(desc.digest);
        if (!isRetryable(e)) throw e;
        // An attempt that got further than any before it does not use up a retry (a slow, flaky
        // link still finishes); one that did not (even after a restart from zero) does.
        if (done > furthest) furthest = done;
        else failures++;
        if (failures > (o.retries ?? 4)) throw e;
        const delay = backoffMs(Math.max(1, failures), e, o);
        o.onRetry?.(e, failures, delay);
        report('retrying', done);
        await sleep(delay, undefined, o.signal !== undefined ? { signal: o.signal } : {});
      }
    }
    report('verifying', done);
    const got = `${alg}:${hash.digest('hex')}`;
    if (got !== desc.digest) throw integrity(`blob has digest ${got}, expected ${desc.digest} (nothing was stored)`);
    await fh.datasync();
    await fh.close();
    fh = undefined;
    await mkdir(dirname(final), { recursive: true });
    await rename(partial.path, final);
    report('done', done);
    return 'downloaded';
  } catch (e) {
    report('failed', done);
    throw e;
  } finally {
    await fh?.close().catch(() => undefined);
    await rm(partial.path, { force: true });
  }
}
