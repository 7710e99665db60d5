// applyLayerTar: streams a layer tarball (plain, gzip or zstd, detected from its bytes) into a
// layer, hashing the raw and the uncompressed stream as they flow (digest, diffID), verifying both.
import type { Readable } from 'node:stream';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { Layer } from './layer.js';
import type { WhiteoutFormat } from './whiteout.js';
import { fsError, isErrno, relabel, UfsError } from '../errors.js';
import { DigestStream, type Digest } from './digest.js';
import { badData, decompressor, detectCompression, peek, unsupportedCompression, type Compression } from './compression.js';
import { parsePaxRecords } from './tar-header.js';
import { LayerWriter, type EntryInfo } from './layer-writer.js';

export interface ApplyOptions {
  /** The expected diffID (sha256 of the uncompressed tar): a mismatch fails with EINTEGRITY. */
  expectDiffID?: Digest;
  /** The expected digest of the input bytes as given (the blob digest): a mismatch fails with EINTEGRITY. */
  expectDigest?: Digest;
  /** The expected size in bytes of the input as given. */
  expectSize?: number;
  /**
   * 'layer' (default): whiteouts become the format's markers in the layer.
   * 'rootfs': the archive is applied onto a full tree: whiteouts and opaque markers delete.
   */
  target?: 'layer' | 'rootfs';
  /** A second entry for a path: 'replace' (default, OCI's "changeset over existing files") or 'error' (EEXIST). */
  onDuplicate?: 'replace' | 'error';
  /** Restore uid/gid from the archive (default: when running as root). */
  sameOwner?: boolean;
  /** Create device nodes (default: when running as root); otherwise they are skipped with a warning. */
  devices?: boolean;
  /** Receives each warning once (default: process.emitWarning). */
  onWarning?: (message: string) => void;
  /** Called as input bytes arrive (cumulative count of the raw input). */
  onProgress?: (rawBytes: number) => void;
  /** Used in error messages (e.g. the blob path or digest). */
  source?: string;
}

export interface ApplyResult {
  /** sha256 of the uncompressed tar. */
  diffID: Digest;
  /** sha256 of the input as given (equals diffID for an uncompressed input). */
  digest: Digest;
  /** The digest of the compressed input, when it was compressed. */
  compressedDigest?: Digest;
  compression: Compression;
  /** Bytes of the uncompressed tar. */
  size: number;
  /** Bytes of the input as given. */
  rawSize: number;
  /** Number of tar entries applied (whiteouts included). */
  entries: number;
  /** Bytes of regular-file data written into the layer (what `docker diff`-style sizes count). */
  dataSize: number;
  warnings: string[];
}

/** Keeps the last block of what passes, to check the archive ends with an end-of-archive block. */
class TailWatch extends Transform {
  tail: Buffer = Buffer.alloc(0);
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.tail = chunk.length >= 512 ? chunk.subarray(chunk.length - 512) : Buffer.from(Buffer.concat([this.tail, chunk]).subarray(-512));
    cb(null, chunk);
  }
  endsWithZeroBlock(): boolean {
    return this.tail.length === 512 && this.tail.every((b) => b === 0);
  }
}

interface RawHeader {
  name: string;
  type: string | null;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  mtime?: Date;
  linkname?: string | null;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string> | null;
}

const XATTR_KEY = 'SCHILY.xattr.';

function entryInfo(h: RawHeader, rawPax: Map<string, Buffer> | null): EntryInfo | null {
  let type = h.type;
  if (type === 'contiguous-file') type = 'file';
  if (type !== 'file' && type !== 'link' && type !== 'symlink' && type !== 'character-device' &&
    type !== 'block-device' && type !== 'directory' && type !== 'fifo') return null;
  const xattrs = new Map<string, Buffer>();
  const pax = h.pax ?? null;
  if (rawPax) {
    for (const [k, v] of rawPax) if (k.startsWith(XATTR_KEY)) xattrs.set(k.slice(XATTR_KEY.length), v);
  } else if (pax) {
    for (const [k, v] of Object.entries(pax)) if (k.startsWith(XATTR_KEY)) xattrs.set(k.slice(XATTR_KEY.length), Buffer.from(v, 'utf8'));
  }
  const num = (v: string | undefined, dflt: number): number => {
    const n = v === undefined ? NaN : Number(v);
    return Number.isFinite(n) && n >= 0 ? n : dflt;
  };
  let mtime = h.mtime ? h.mtime.getTime() / 1000 : 0;
  if (!Number.isFinite(mtime)) mtime = 0;
  if (pax?.mtime !== undefined) mtime = num(pax.mtime, mtime);
  return {
    name: h.name,
    type,
    mode: (h.mode ?? 0o644) & 0o7777,
    uid: Math.floor(num(pax?.uid, h.uid ?? 0)),
    gid: Math.floor(num(pax?.gid, h.gid ?? 0)),
    mtime,
    linkname: h.linkname ?? null,
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
    xattrs,
  };
}

/**
 * Applies a layer tarball to `layer`, converting `.wh.` whiteouts and `.wh..wh..opq` markers to
 * `format`. Never buffers a whole layer. Hostile or corrupt input rejects with a UfsError
 * (EINVAL/ENOTDIR/EEXIST for refused entries, EBADMSG for corrupt or truncated data, ENOTSUP for
 * unsupported compression, EINTEGRITY for digest mismatches) and touches nothing outside the layer.
 *
 * On error the layer is left partly written: apply into a fresh directory and rename it into place
 * only on success (the store does this). Nobody else may write the layer directory meanwhile.
 */
export async function applyLayerTar(input: Readable, layer: Layer, format: WhiteoutFormat, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const isRoot = process.getuid?.() === 0;
  const warnings: string[] = [];
  const warned = new Set<string>();
  const warn = (key: string, message: string): void => {
    if (warned.has(key)) return;
    warned.add(key);
    warnings.push(message);
    if (opts.onWarning) opts.onWarning(message);
    else process.emitWarning(`ufs: ${message}`, { code: 'UFS_LAYER_APPLY' });
  };
  const src = opts.source;
  // Listen from the start: the input may fail (a digest check at its end) while we only peek at it.
  const errs: { first: [string, unknown] | null } = { first: null };
  input.on('error', (e: unknown) => { errs.first ??= ['input', e]; });

  const head = await peek(input, 6);
  const detected = detectCompression(head);
  if (detected === 'xz' || detected === 'bzip2') {
    input.destroy();
    throw unsupportedCompression(detected, src);
  }
  if (head.length === 0) {
    input.destroy();
    throw fsError('EBADMSG', 'extract', src, undefined, 'empty layer stream (not even an end-of-archive block)');
  }
  const kind: Compression = detected;

  const rawHash = new DigestStream({ expect: opts.expectDigest, expectSize: opts.expectSize, what: 'layer blob', path: src, onProgress: opts.onProgress });
  const dec = decompressor(kind);
  const tarHash = new DigestStream({ expect: opts.expectDiffID, what: 'layer diffID', path: src });
  const tail = new TailWatch();

  const writer = new LayerWriter(layer, format, {
    target: opts.target ?? 'layer',
    onDuplicate: opts.onDuplicate ?? 'replace',
    sameOwner: opts.sameOwner ?? isRoot,
    devices: opts.devices ?? isRoot,
    warn,
  });

  const ex = tar.extract();
  // tar-stream decodes PAX values as UTF-8 text, which garbles binary xattr values (file
  // capabilities...): keep the raw records of each PAX header for the entry that follows it.
  let rawPax: Map<string, Buffer> | null = null;
  const exInternals = ex as unknown as { _decodeLongHeader?: (buf: Buffer) => void; _header?: { type?: string } | null };
  const origDecode = exInternals._decodeLongHeader;
  if (typeof origDecode === 'function') {
    exInternals._decodeLongHeader = function (this: typeof exInternals, buf: Buffer): void {
      if (this._header?.type === 'pax-header') rawPax = parsePaxRecords(buf);
      origDecode.call(this, buf);
    };
  }

  let inFlight: Promise<void> = Promise.resolve();
  let entryError: Error | null = null;
  ex.on('entry', (hdr, stream, next) => {
    const header = hdr as unknown as RawHeader;
    const data = stream as unknown as AsyncIterable<Buffer>;
    // The entry stream may fail (truncated archive) before the writer starts reading it.
    stream.on('error', () => undefined);
    const pax = header.pax ? rawPax : null;
    rawPax = null;
    inFlight = (async () => {
      const info = entryInfo(header, pax);
      if (info === null) {
        throw fsError('ENOTSUP', 'extract', header.name, undefined, `unsupported tar entry type ${JSON.stringify(header.type)}`);
      }
      await writer.apply(info, data);
      // Whatever the writer did not read (data of non-files) is drained.
      for await (const _ of data) { /* drain */ }
    })().then(
      () => next(),
      (err: unknown) => {
        entryError = err instanceof UfsError ? err : relabel(err, 'extract', header.name);
        next(entryError);
      },
    );
  });

  const sink = async (source: AsyncIterable<Buffer>): Promise<void> => {
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      const fail = (e: unknown): void => {
        if (failed) return;
        failed = true;
        reject(e instanceof Error ? e : new Error(String(e)));
      };
      ex.on('error', fail);
      // Destroyed without an error event (a refused entry ends the parse): report the entry's error.
      ex.on('close', () => fail(entryError ?? fsError('EBADMSG', 'extract', src, undefined, 'tar parsing stopped early')));
      ex.on('finish', () => resolve());
      void (async () => {
        try {
          for await (const chunk of source) {
            if (failed) return;
            if (!ex.write(chunk)) await drainOrClose(ex);
          }
          ex.end(null);
        } catch (e) {
          ex.destroy(e as Error);
          fail(e);
        }
      })();
    });
  };

  dec.on('error', (e: unknown) => { errs.first ??= ['decompress', e]; });
  ex.on('error', (e: unknown) => { errs.first ??= ['tar', e]; });

  try {
    await pipeline(input, rawHash, dec, tarHash, tail, sink);
    await inFlight;
    if (!tail.endsWithZeroBlock()) {
      throw fsError('EBADMSG', 'extract', src, undefined, 'truncated tar data: the archive does not end with an end-of-archive block');
    }
    await writer.finishOpaque();
    await writer.finish();
  } catch (e) {
    await inFlight.catch(() => undefined);
    await writer.settle();
    ex.destroy();
    throw classify(e, errs.first, kind, src);
  }
  const diffID = tarHash.digest();
  const digest = rawHash.digest();
  return {
    diffID,
    digest,
    ...(kind === 'none' ? {} : { compressedDigest: digest }),
    compression: kind,
    size: tarHash.bytes,
    rawSize: rawHash.bytes,
    entries: writer.entries,
    dataSize: writer.dataBytes,
    warnings,
  };
}

/** Waits until a backpressured writable drains (or closes). */
function drainOrClose(w: { once(ev: 'drain' | 'close', f: () => void): unknown; off(ev: 'drain' | 'close', f: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      w.off('drain', done);
      w.off('close', done);
      resolve();
    };
    w.once('drain', done);
    w.once('close', done);
  });
}

function classify(e: unknown, first: [string, unknown] | null, kind: Compression, src?: string): Error {
  if (e instanceof UfsError) return e;
  const origin = first?.[0];
  if (origin === 'decompress' || (origin === undefined && isZlibError(e))) return badData(kind, e, src);
  if (origin === 'tar' || (e instanceof Error && /tar|Unexpected end of data|header/i.test(e.message))) {
    return badData('tar', e, src);
  }
  if (isErrno(e)) return relabel(e, e.syscall ?? 'extract', src ?? e.path);
  return badData(kind === 'none' ? 'tar' : kind, e, src);
}

function isZlibError(e: unknown): boolean {
  return isErrno(e) && /^Z_/.test(e.code);
}
