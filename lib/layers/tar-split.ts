// Tar-split: records the exact bytes of an uncompressed layer tar as it streams past (headers, long-name
// and PAX blocks, padding, end marker kept raw; regular-file payloads as path + size), so that the identical
// stream can be reassembled later from the record plus the files' contents (tar-split-reassemble.ts).
import { Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';

export { readTarSplit, reassemble, type OpenContent, type TarSplitReader } from './tar-split-reassemble.js';

/**
 * One piece of a recorded tar: bytes kept as they were, a run of zero bytes (padding, end marker), or
 * the payload of a regular file, to be read back from the layer by its path (no leading './' or '/').
 */
export type Segment =
  | { kind: 'raw'; data: Buffer }
  | { kind: 'zeros'; size: number }
  | { kind: 'file'; path: string; size: number };

/** The first line of a record: what stream it reassembles. */
export interface TarSplitSummary {
  tarSplit: 1;
  /** Bytes of the whole tar stream. */
  size: number;
  /** Its digest (the layer's diffID), as the recorder's owner gave it. */
  digest: string;
  /** Tar entries (long-name and PAX blocks not counted). */
  entries: number;
  /** Bytes of file payloads the record refers to (read back from the layer). */
  fileBytes: number;
}

/** How a recording went: the record bytes (gzip'd JSON lines), or why there is none. */
export type TarSplitResult = { ok: true; record: Buffer; summary: TarSplitSummary } | { ok: false; reason: string };

const BLOCK = 512;
/** tar-stream's own limit on long-name and PAX blocks; larger ones fail the apply. */
const MAX_LONG_HEADER = 4 * 1024 * 1024;
/** Payload bytes kept raw (non-file entries that carry data): past this, recording is given up. */
const MAX_RAW_PAYLOAD = 16 * 1024 * 1024;
/** Zero runs at least this long are recorded as a count instead of bytes. */
const MIN_ZERO_RUN = 16;
const RAW_FLUSH = 64 * 1024;
const LINE_BATCH = 256 * 1024;
const WH_PREFIX = '.wh.';

// ---- the byte-level header decoding (the same reading as tar-stream's, which applies the layer) ----

function parse256(v: Buffer): number | null {
  if (v[0] !== 0x80 && v[0] !== 0xff) return null;
  const positive = v[0] === 0x80;
  let sum = 0;
  for (let i = v.length - 1, mul = 1; i > 0; i--, mul *= 256) sum += (positive ? v[i]! : 0xff - v[i]!) * mul;
  return positive ? sum : -sum;
}

/** A numeric field: octal (leading spaces and NULs skipped, ends at a space) or base-256. */
function decodeOct(b: Buffer, off: number, len: number): number | null {
  const v = b.subarray(off, off + len);
  if (v[0]! & 0x80) return parse256(v);
  let i = 0;
  while (i < v.length && v[i] === 0x20) i++;
  let end = v.indexOf(0x20, i);
  if (end < 0) end = v.length;
  while (i < end && v[i] === 0) i++;
  if (end === i) return 0;
  return parseInt(v.toString('utf8', i, end), 8);
}

function decodeStr(b: Buffer, off: number, len: number): string {
  let end = b.indexOf(0, off);
  if (end < 0 || end > off + len) end = off + len;
  return b.toString('utf8', off, end);
}

function checksumOf(b: Buffer): number {
  let sum = 8 * 32;
  for (let i = 0; i < 148; i++) sum += b[i]!;
  for (let i = 156; i < BLOCK; i++) sum += b[i]!;
  return sum;
}

function isUstar(b: Buffer): boolean {
  return b.toString('latin1', 257, 263) === 'ustar\0';
}

function isGnu(b: Buffer): boolean {
  return b.toString('latin1', 257, 263) === 'ustar ' && b.toString('latin1', 263, 265) === ' \0';
}

/** PAX records as tar-stream reads them (text values, a malformed record ends the parse). */
function decodePax(buf: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  while (buf.length) {
    let i = 0;
    while (i < buf.length && buf[i] !== 0x20) i++;
    const len = parseInt(buf.toString('utf8', 0, i), 10);
    if (!len) return out;
    const rec = buf.toString('utf8', i + 1, Math.max(i + 1, Math.min(buf.length, len - 1)));
    const eq = rec.indexOf('=');
    if (eq === -1) return out;
    out[rec.slice(0, eq)] = rec.slice(eq + 1);
    buf = buf.subarray(len);
  }
  return out;
}

/** An archive name as a layer path: no leading './' or '/', no empty or '.' components. */
export function normalizeTarPath(name: string): string {
  return name.split('/').filter((c) => c !== '' && c !== '.').join('/');
}

function padOf(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

type State = 'header' | 'long' | 'file' | 'raw' | 'pad' | 'broken';

/**
 * A pass-through stream over an uncompressed tar that records it (call `finish` once it has ended).
 * It never fails the stream: what it cannot record (an archive tar-stream would read differently,
 * a file payload a later entry of the same archive replaces) only means there is no record.
 */
export class TarSplitRecorder extends Transform {
  private state: State = 'header';
  private readonly hdr = Buffer.alloc(BLOCK);
  private hdrFill = 0;
  /** Bytes left of the current long header, payload or padding. */
  private remaining = 0;
  private padAfter = 0;
  private longType = 0;
  private longSize = 0;
  private longBufs: Buffer[] = [];
  private pax: Record<string, string> | null = null;
  private paxGlobal: Record<string, string> | null = null;
  private gnuLongPath: string | null = null;
  private rawPending: Buffer[] = [];
  private rawPendingBytes = 0;
  private rawPayload = 0;
  private broken: string | null = null;
  private ended = false;
  private size = 0;
  private entries = 0;
  private fileBytes = 0;
  /** Paths whose payload the record refers to, and every directory above them. */
  private readonly payloadPaths = new Set<string>();
  private readonly payloadParents = new Set<string>();
  private lines: string[] = [];
  private linesBytes = 0;
  private readonly gz = zlib.createGzip();
  private readonly gzOut: Buffer[] = [];
  private readonly gzDone: Promise<void>;

  constructor() {
    super();
    this.gz.on('data', (c: Buffer) => this.gzOut.push(c));
    this.gzDone = new Promise((resolve, reject) => {
      this.gz.once('end', resolve);
      this.gz.once('error', reject);
    });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    if (this.broken === null) {
      try {
        this.consume(chunk);
      } catch (e) {
        this.giveUp(`recording failed: ${(e as Error).message}`);
      }
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.ended = true;
    if (this.broken === null) {
      if (this.state === 'header' && this.hdrFill > 0) this.appendRaw(this.hdr.subarray(0, this.hdrFill));
      else if (this.state !== 'header') this.giveUp('the archive ends inside an entry');
    }
    cb();
  }

  /** Why there will be no record (null while recording is possible). */
  get failure(): string | null {
    return this.broken;
  }

  /**
   * The record, once the stream has ended: `digest` is the stream's digest as its owner computed it
   * (the layer's diffID). Without a usable record, the reason.
   */
  async finish(digest: string): Promise<TarSplitResult> {
    if (!this.ended && this.broken === null) this.giveUp('the stream did not end');
    if (this.broken !== null) {
      this.gz.destroy();
      return { ok: false, reason: this.broken };
    }
    this.flushRaw();
    this.line({ end: this.size });
    this.flushLines();
    this.gz.end();
    await this.gzDone;
    const summary: TarSplitSummary = { tarSplit: 1, size: this.size, digest, entries: this.entries, fileBytes: this.fileBytes };
    // Two gzip members: the summary first (so a reader knows the size before the body), then the body.
    const head = zlib.gzipSync(`${JSON.stringify(summary)}\n`);
    return { ok: true, record: Buffer.concat([head, ...this.gzOut]), summary };
  }

  /** Drops what was recorded (when the record is not wanted). */
  discard(): void {
    this.giveUp('discarded');
    this.gz.destroy();
  }

  private giveUp(reason: string): void {
    if (this.broken !== null) return;
    this.broken = reason;
    this.rawPending = [];
    this.lines = [];
    this.payloadPaths.clear();
    this.payloadParents.clear();
    this.state = 'broken';
  }

  private consume(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && this.broken === null) {
      const avail = chunk.length - off;
      switch (this.state) {
        case 'header': {
          const n = Math.min(BLOCK - this.hdrFill, avail);
          chunk.copy(this.hdr, this.hdrFill, off, off + n);
          this.hdrFill += n;
          off += n;
          if (this.hdrFill === BLOCK) {
            this.hdrFill = 0;
            this.onHeader(this.hdr);
          }
          break;
        }
        case 'long': {
          const n = Math.min(this.remaining, avail);
          const part = chunk.subarray(off, off + n);
          this.longBufs.push(Buffer.from(part));
          this.appendRaw(part);
          this.remaining -= n;
          off += n;
          if (this.remaining === 0) this.onLongData(Buffer.concat(this.longBufs));
          break;
        }
        case 'file':
        case 'raw':
        case 'pad': {
          const n = Math.min(this.remaining, avail);
          if (this.state === 'file') {
            // The payload itself is not kept: the layer holds it.
          } else {
            if (this.state === 'raw') {
              this.rawPayload += n;
              if (this.rawPayload > MAX_RAW_PAYLOAD) {
                this.giveUp(`more than ${MAX_RAW_PAYLOAD} bytes of payload that is not file content`);
                return;
              }
            }
            this.appendRaw(chunk.subarray(off, off + n));
          }
          this.remaining -= n;
          off += n;
          if (this.remaining === 0) this.endPart();
          break;
        }
        case 'broken':
          return;
      }
    }
  }

  /** After a payload: its padding, then the next header. */
  private endPart(): void {
    if (this.state !== 'pad' && this.padAfter > 0) {
      this.state = 'pad';
      this.remaining = this.padAfter;
      this.padAfter = 0;
      return;
    }
    this.state = 'header';
  }

  private onHeader(b: Buffer): void {
    this.appendRaw(b);
    const sum = checksumOf(b);
    // An empty block (the end marker, or zero blocks after it): tar-stream skips it and reads on.
    if (sum === 8 * 32) return;
    if (sum !== decodeOct(b, 148, 8)) return this.giveUp('a header has a wrong checksum');
    const ustar = isUstar(b);
    if (!ustar && !isGnu(b)) return this.giveUp('a header of an unknown format');
    let typeflag = b[156] === 0 ? 0 : b[156]! - 48;
    let name = decodeStr(b, 0, 100);
    if (ustar && b[345] !== 0) name = `${decodeStr(b, 345, 155)}/${name}`;
    let size = decodeOct(b, 124, 12);
    if (size === null) return this.giveUp('a header has an unreadable size');
    if (typeflag === 0 && name.endsWith('/')) typeflag = 5;
    if (typeflag === 28 || typeflag === 30 || typeflag === 27 || typeflag === 72 || typeflag === 55) {
      if (!(size > 0) || size > MAX_LONG_HEADER) return this.giveUp('a long-name or PAX block of an unusual size');
      this.longType = typeflag;
      this.longSize = size;
      this.longBufs = [];
      this.state = 'long';
      this.remaining = size;
      return;
    }
    if (this.gnuLongPath !== null) {
      name = this.gnuLongPath;
      this.gnuLongPath = null;
    }
    const pax = this.pax;
    this.pax = null;
    if (pax) {
      if (pax.path) name = pax.path;
      if (pax.size) size = parseInt(pax.size, 10);
    }
    if (!(size >= 0)) return this.giveUp('an entry has an invalid size');
    this.entries++;
    const rel = normalizeTarPath(name);
    const base = rel.slice(rel.lastIndexOf('/') + 1);
    const whiteout = base.startsWith(WH_PREFIX);
    const isDir = typeflag === 5;
    const payload = size > 0 && !isDir;
    const asFile = payload && (typeflag === 0 || typeflag === 7) && rel !== '' && !whiteout;
    if (!whiteout) this.noteEntry(rel, isDir, asFile);
    if (this.broken !== null || !payload) return;
    this.remaining = size;
    this.padAfter = padOf(size);
    if (asFile) {
      this.flushRaw();
      this.line({ f: rel, n: size });
      this.fileBytes += size;
      this.state = 'file';
    } else {
      this.state = 'raw';
    }
  }

  private onLongData(data: Buffer): void {
    switch (this.longType) {
      case 28:
      case 30:
        this.gnuLongPath = decodeStr(data, 0, data.length);
        break;
      case 27:
        break; // a long link name: nothing the record needs
      case 55:
        this.paxGlobal = decodePax(data);
        break;
      case 72:
        this.pax = this.paxGlobal === null ? decodePax(data) : { ...this.paxGlobal, ...decodePax(data) };
        break;
    }
    this.longBufs = [];
    this.state = 'raw';
    this.remaining = 0;
    this.padAfter = padOf(this.longSize);
    this.endPart();
  }

  /**
   * A payload is read back from the layer at its path, so nothing later in the archive may replace
   * it: not an entry of the same path, nor a non-directory above it (whiteouts leave this archive's
   * own entries alone).
   */
  private noteEntry(rel: string, isDir: boolean, isPayload: boolean): void {
    if (this.payloadPaths.has(rel) || (!isDir && this.payloadParents.has(rel))) {
      this.giveUp(`'${rel}' is replaced by a later entry of the archive`);
      return;
    }
    if (!isPayload) return;
    this.payloadPaths.add(rel);
    for (let i = rel.indexOf('/'); i >= 0; i = rel.indexOf('/', i + 1)) this.payloadParents.add(rel.slice(0, i));
    this.payloadParents.add('');
  }

  private appendRaw(b: Buffer): void {
    if (b.length === 0) return;
    this.rawPending.push(Buffer.from(b));
    this.rawPendingBytes += b.length;
    if (this.rawPendingBytes >= RAW_FLUSH) this.flushRaw();
  }

  /** Writes the pending raw bytes as lines: zero runs as counts, the rest as base64. */
  private flushRaw(): void {
    if (this.rawPendingBytes === 0) return;
    const all = this.rawPending.length === 1 ? this.rawPending[0]! : Buffer.concat(this.rawPending);
    this.rawPending = [];
    this.rawPendingBytes = 0;
    let start = 0;
    let i = 0;
    while (i < all.length) {
      if (all[i] !== 0) {
        i++;
        continue;
      }
      let j = i;
      while (j < all.length && all[j] === 0) j++;
      if (j - i >= MIN_ZERO_RUN) {
        if (i > start) this.line({ r: all.toString('base64', start, i) });
        this.line({ z: j - i });
        start = j;
      }
      i = j;
    }
    if (start < all.length) this.line({ r: all.toString('base64', start) });
  }

  private line(v: object): void {
    const l = `${JSON.stringify(v)}\n`;
    this.lines.push(l);
    this.linesBytes += l.length;
    // Handed to gzip in batches: one deflate call per line would cost more than everything else.
    if (this.linesBytes >= LINE_BATCH) this.flushLines();
  }

  private flushLines(): void {
    if (this.lines.length === 0) return;
    this.gz.write(this.lines.join(''));
    this.lines = [];
    this.linesBytes = 0;
  }
}
