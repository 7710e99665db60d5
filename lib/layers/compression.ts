// Layer compression: recognising gzip / zstd / plain tar by their magic bytes, streaming
// decompressors (gzip via node:zlib, zstd via fzstd), a deterministic gzip compressor, and peeking.
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import { fsError, UfsError } from '../errors.js';

export type Compression = 'none' | 'gzip' | 'zstd';
/** What the magic bytes say, including formats ufs recognises but cannot read. */
export type DetectedCompression = Compression | 'xz' | 'bzip2';

/** Recognises a compression format from the first bytes of a stream (at least 6 for xz). */
export function detectCompression(head: Uint8Array): DetectedCompression {
  const b = (i: number): number => head[i] ?? -1;
  if (b(0) === 0x1f && b(1) === 0x8b) return 'gzip';
  if (b(0) === 0x28 && b(1) === 0xb5 && b(2) === 0x2f && b(3) === 0xfd) return 'zstd';
  // zstd skippable frames (0x184D2A50..5F little endian) may precede the data frame.
  if ((b(0) & 0xf0) === 0x50 && b(1) === 0x2a && b(2) === 0x4d && b(3) === 0x18) return 'zstd';
  if (b(0) === 0xfd && b(1) === 0x37 && b(2) === 0x7a && b(3) === 0x58 && b(4) === 0x5a && b(5) === 0x00) return 'xz';
  if (b(0) === 0x42 && b(1) === 0x5a && b(2) === 0x68) return 'bzip2';
  return 'none';
}

/** The compression named by an OCI/Docker layer media type (`+gzip`, `+zstd`, `.tar.gzip`...). */
export function compressionOfMediaType(mediaType: string): Compression {
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.gzip') || mediaType === 'application/vnd.docker.image.rootfs.diff.tar.gzip') return 'gzip';
  if (mediaType.endsWith('+zstd') || mediaType.endsWith('.zstd')) return 'zstd';
  return 'none';
}

/**
 * Reads the first `n` bytes of a stream (fewer if it ends sooner) and puts them back, so the
 * stream can then be piped from its start. The stream must not be flowing yet.
 */
export function peek(stream: Readable, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    const done = (err: Error | null): void => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onError);
      const head = Buffer.concat(chunks);
      if (err) {
        reject(err);
        return;
      }
      if (head.length > 0) stream.unshift(head);
      resolve(head.subarray(0, n));
    };
    const onReadable = (): void => {
      let c: Buffer | string | null;
      while (have < n && (c = stream.read() as Buffer | string | null) !== null) {
        const buf = typeof c === 'string' ? Buffer.from(c) : c;
        chunks.push(buf);
        have += buf.length;
      }
      if (have >= n) done(null);
    };
    const onEnd = (): void => done(null);
    const onError = (e: Error): void => done(e);
    if (stream.errored) {
      reject(stream.errored);
      return;
    }
    if (stream.destroyed) {
      reject(fsError('EPIPE', 'read', undefined, undefined, 'the stream was closed before it was read'));
      return;
    }
    stream.on('readable', onReadable);
    stream.on('end', onEnd);
    stream.on('error', onError);
    if (stream.readableEnded) done(null);
  });
}

/** A corrupt-data error (EBADMSG) from a decompressor's or parser's own error. */
export function badData(kind: string, e: unknown, path?: string): UfsError {
  if (e instanceof UfsError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return fsError('EBADMSG', kind === 'tar' ? 'extract' : 'decompress', path, undefined, `corrupt or truncated ${kind} data: ${msg}`);
}

/** A zstd decompressor as a Transform (fzstd's streaming decoder; errors become EBADMSG). */
class ZstdDecompressStream extends Transform {
  private readonly z: ZstdDecompress;
  private ended = false;

  constructor() {
    super();
    this.z = new ZstdDecompress((data, final) => {
      if (data.length > 0) this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      if (final) this.ended = true;
    });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.z.push(chunk, false);
      cb();
    } catch (e) {
      cb(badData('zstd', e));
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.z.push(new Uint8Array(0), true);
      if (!this.ended) throw new Error('unexpected end of stream');
      cb();
    } catch (e) {
      cb(badData('zstd', e));
    }
  }
}

/**
 * A streaming decompressor for `kind` ('none' passes data through unchanged). Its errors are the
 * library's own (zlib's Z_DATA_ERROR...): pass them through `badData` to report them.
 */
export function decompressor(kind: Compression): Transform {
  switch (kind) {
    case 'gzip':
      return zlib.createGunzip();
    case 'zstd':
      return new ZstdDecompressStream();
    case 'none':
      return new Transform({ transform: (c: Buffer, _e, cb) => cb(null, c) });
  }
}

/**
 * A deterministic gzip compressor: node:zlib writes a header without file name and with mtime 0,
 * so the same input gives the same bytes (with the same zlib build and level).
 */
export function gzipCompressor(level = 6): Transform {
  return zlib.createGzip({ level });
}

/** The error for a compression format ufs recognises but does not read. */
export function unsupportedCompression(kind: DetectedCompression, path?: string): UfsError {
  return fsError('ENOTSUP', 'decompress', path, undefined, `${kind}-compressed layers are not supported (use gzip, zstd or none)`);
}
