// Content digests (`sha256:<hex>`): parsing and validation, hashing buffers, files and streams
// as they flow, and layer chainIDs (chainID(L1) = diffID(L1), chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln))).
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { fsError } from '../errors.js';

/** A content digest as OCI writes it: `algorithm:hex`, e.g. `sha256:e3b0c4...`. */
export type Digest = `${string}:${string}`;

const HEX_LENGTH: Record<string, number> = { sha256: 64, sha512: 128 };

/** Whether `s` is a well-formed digest of an algorithm ufs can verify (sha256, sha512). */
export function isDigest(s: unknown): s is Digest {
  if (typeof s !== 'string') return false;
  const i = s.indexOf(':');
  if (i < 0) return false;
  const alg = s.slice(0, i);
  const hex = s.slice(i + 1);
  const len = HEX_LENGTH[alg];
  return len !== undefined && hex.length === len && /^[0-9a-f]+$/.test(hex);
}

/** Splits a digest into algorithm and hex, rejecting anything malformed (EINVAL). */
export function parseDigest(s: unknown, what = 'digest'): { algorithm: string; hex: string } {
  if (!isDigest(s)) {
    throw fsError('EINVAL', 'digest', undefined, undefined, `invalid ${what} ${JSON.stringify(s)} (expected sha256:<64 hex> or sha512:<128 hex>)`);
  }
  const i = s.indexOf(':');
  return { algorithm: s.slice(0, i), hex: s.slice(i + 1) };
}

/** The hex part of a digest. */
export function digestHex(d: Digest): string {
  return parseDigest(d).hex;
}

export function sha256(data: string | Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The digest of `data` with the algorithm of `like` (sha256 by default). */
export function digestOf(data: string | Uint8Array, algorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}` as Digest;
}

/** Digest and size of a file, read as a stream (never loaded whole). */
export async function digestFile(file: string, algorithm = 'sha256'): Promise<{ digest: Digest; size: number }> {
  const h = createHash(algorithm);
  let size = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `${algorithm}:${h.digest('hex')}` as Digest, size };
}

/** The chainID of each layer of a stack (bottom first) from their diffIDs. */
export function chainIDs(diffIDs: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIDs) {
    parseDigest(d, 'diffID');
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : sha256(`${prev} ${d}`));
  }
  return out;
}

/** The chainID of the top layer of a stack (bottom first); throws EINVAL for an empty stack. */
export function chainID(diffIDs: readonly Digest[]): Digest {
  const all = chainIDs(diffIDs);
  const top = all[all.length - 1];
  if (top === undefined) throw fsError('EINVAL', 'digest', undefined, undefined, 'chainID of an empty layer stack');
  return top;
}

/** The error of a digest mismatch: code EINTEGRITY, naming what was expected and what was found. */
export function integrityError(what: string, expected: string, actual: string, path?: string): Error {
  return fsError('EINTEGRITY', 'verify', path, undefined, `${what} digest mismatch: expected ${expected}, got ${actual}`);
}

/**
 * A pass-through stream that hashes and counts what flows through it. `digest()` is final once
 * the stream has ended. With `expect` (and optionally `expectSize`), the stream fails with
 * EINTEGRITY at its end when the content does not match, so a consumer never sees a clean end of
 * unverified data; with `expectSize` it also fails as soon as more bytes than announced arrive.
 */
export class DigestStream extends Transform {
  private readonly hash: Hash;
  private readonly algorithm: string;
  private result: Digest | undefined;
  bytes = 0;

  constructor(
    private readonly opts: {
      algorithm?: string; expect?: Digest; expectSize?: number; what?: string; path?: string;
      /** Called with the cumulative byte count as data passes. */
      onProgress?: (bytes: number) => void;
    } = {},
  ) {
    super();
    this.algorithm = opts.expect !== undefined ? parseDigest(opts.expect).algorithm : (opts.algorithm ?? 'sha256');
    this.hash = createHash(this.algorithm);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.opts.expectSize !== undefined && this.bytes > this.opts.expectSize) {
      cb(fsError('EINTEGRITY', 'verify', this.opts.path, undefined,
        `${this.opts.what ?? 'blob'} is larger than its descriptor says (${this.opts.expectSize} bytes)`));
      return;
    }
    this.hash.update(chunk);
    this.opts.onProgress?.(this.bytes);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.result = `${this.algorithm}:${this.hash.digest('hex')}` as Digest;
    const what = this.opts.what ?? 'blob';
    if (this.opts.expectSize !== undefined && this.bytes !== this.opts.expectSize) {
      cb(fsError('EINTEGRITY', 'verify', this.opts.path, undefined,
        `${what} size mismatch: expected ${this.opts.expectSize} bytes, got ${this.bytes}`));
      return;
    }
    if (this.opts.expect !== undefined && this.result !== this.opts.expect) {
      cb(integrityError(what, this.opts.expect, this.result, this.opts.path));
      return;
    }
    cb();
  }

  /** The digest of everything that passed; only valid after the stream ended. */
  digest(): Digest {
    if (this.result === undefined) throw fsError('EINVAL', 'digest', undefined, undefined, 'digest read before the stream ended');
    return this.result;
  }
}
