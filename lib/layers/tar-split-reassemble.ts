// Tar-split records read back: the summary, the segments in order (verified to add up), and the
// original tar stream reassembled from them and the layer's files (small files read ahead, overlapping).
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import zlib from 'node:zlib';
import { fsError, UfsError } from '../errors.js';
import type { Segment, TarSplitSummary } from './tar-split.js';

function corrupt(detail: string): UfsError {
  return fsError('EBADMSG', 'read', undefined, undefined, `corrupt tar-split record: ${detail}`);
}

/** A record being read: its summary, then its segments in order (each read once). */
export interface TarSplitReader {
  summary: TarSplitSummary;
  segments(): AsyncGenerator<Segment>;
  close(): void;
}

function parseSegment(line: string): Segment | { end: number } {
  let v: { r?: unknown; z?: unknown; f?: unknown; n?: unknown; end?: unknown };
  try {
    v = JSON.parse(line) as typeof v;
  } catch {
    throw corrupt('a line is not JSON');
  }
  if (typeof v.r === 'string') return { kind: 'raw', data: Buffer.from(v.r, 'base64') };
  if (typeof v.z === 'number' && Number.isSafeInteger(v.z) && v.z > 0) return { kind: 'zeros', size: v.z };
  if (typeof v.f === 'string' && typeof v.n === 'number' && Number.isSafeInteger(v.n) && v.n > 0) return { kind: 'file', path: v.f, size: v.n };
  if (typeof v.end === 'number') return { end: v.end };
  throw corrupt(`unknown line ${line.slice(0, 80)}`);
}

/** The lines of a gzip'd text stream (every member of it), without their newlines. */
async function* linesOf(gunzip: AsyncIterable<Buffer>): AsyncGenerator<string> {
  const dec = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of gunzip) {
    rest += dec.write(chunk);
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      yield rest.slice(0, nl);
      rest = rest.slice(nl + 1);
    }
  }
  rest += dec.end();
  if (rest !== '') yield rest;
}

/** Opens a record (its gzip'd bytes as a stream or buffer) and reads its summary. */
export async function readTarSplit(source: Readable | Buffer): Promise<TarSplitReader> {
  const input = Buffer.isBuffer(source) ? Readable.from([source]) : source;
  const gunzip = zlib.createGunzip();
  input.on('error', (e) => gunzip.destroy(e));
  input.pipe(gunzip);
  const lines = linesOf(gunzip);
  const close = (): void => {
    gunzip.destroy();
    input.destroy();
  };
  const next = async (): Promise<IteratorResult<string>> => {
    try {
      return await lines.next();
    } catch (e) {
      throw e instanceof UfsError ? e : corrupt((e as Error).message);
    }
  };
  let summary: TarSplitSummary;
  try {
    const first = await next();
    if (first.done) throw corrupt('it is empty');
    try {
      summary = JSON.parse(first.value) as TarSplitSummary;
    } catch {
      throw corrupt('no summary line');
    }
    if (summary.tarSplit !== 1 || !Number.isSafeInteger(summary.size) || typeof summary.digest !== 'string') throw corrupt('no summary line');
  } catch (e) {
    close();
    throw e;
  }
  async function* segments(): AsyncGenerator<Segment> {
    let total = 0;
    try {
      for (;;) {
        const r = await next();
        if (r.done) throw corrupt('it ends early (no end line)');
        if (r.value === '') continue;
        const s = parseSegment(r.value);
        if ('end' in s) {
          if (s.end !== total || s.end !== summary.size) throw corrupt(`it describes ${total} bytes, its summary ${summary.size}`);
          return;
        }
        total += s.kind === 'raw' ? s.data.length : s.size;
        yield s;
      }
    } finally {
      close();
    }
  }
  return { summary, segments, close };
}

/** Opens a file's content for the reassembler; `size` is what the record expects. */
export type OpenContent = (path: string, size: number) => Readable | AsyncIterable<Buffer> | Promise<Readable | AsyncIterable<Buffer>>;

const ZEROS = Buffer.alloc(64 * 1024);
/** Small pieces (headers, padding) are gathered into chunks of about this size before they go out. */
const GATHER = 64 * 1024;
/** Small files are read ahead, this many at a time, so that the reads overlap. */
const READ_AHEAD = 8;
const READ_AHEAD_MAX = 256 * 1024;

function tooLong(p: string, size: number): UfsError {
  return fsError('EINTEGRITY', 'read', p, undefined, `the layer's file ${p} has more than the ${size} bytes it was imported with`);
}

function tooShort(p: string, got: number, size: number): UfsError {
  return fsError('EINTEGRITY', 'read', p, undefined, `the layer's file ${p} has ${got} bytes, not the ${size} it was imported with`);
}

/** The content of a file, each chunk checked against the recorded size. */
async function* contentChunks(src: Readable | AsyncIterable<Buffer>, p: string, size: number): AsyncGenerator<Buffer> {
  let got = 0;
  try {
    for await (const c of src) {
      const b = c as Buffer;
      got += b.length;
      if (got > size) throw tooLong(p, size);
      yield b;
    }
  } finally {
    if (src instanceof Readable) src.destroy();
  }
  if (got !== size) throw tooShort(p, got, size);
}

async function readWhole(open: OpenContent, p: string, size: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const b of contentChunks(await open(p, size), p, size)) out.push(b);
  return out;
}

/**
 * The original tar stream, from a record and the files' contents. A file that yields more or fewer
 * bytes than recorded fails the stream with EINTEGRITY; the caller verifies the whole digest.
 */
export function reassemble(record: TarSplitReader, open: OpenContent): Readable {
  async function* bytes(): AsyncGenerator<Buffer> {
    const segs = record.segments();
    const ahead: { seg: Segment; data?: Promise<Buffer[]> }[] = [];
    let reading = 0;
    let exhausted = false;
    /** Looks ahead in the record, starting the reads of small files. */
    const fill = async (): Promise<void> => {
      while (!exhausted && reading < READ_AHEAD && ahead.length < 1024) {
        const r = await segs.next();
        if (r.done) {
          exhausted = true;
          return;
        }
        const seg = r.value;
        if (seg.kind === 'file' && seg.size <= READ_AHEAD_MAX) {
          const data = readWhole(open, seg.path, seg.size);
          data.catch(() => undefined); // reported when its turn comes
          reading++;
          ahead.push({ seg, data });
        } else {
          ahead.push({ seg });
        }
        if (seg.kind === 'file' && seg.size > READ_AHEAD_MAX) return;
      }
    };
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const gathered = (): Buffer => {
      const b = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      return b;
    };
    try {
      for (;;) {
        if (ahead.length === 0 || reading < READ_AHEAD / 2) await fill();
        const item = ahead.shift();
        if (!item) break;
        const s = item.seg;
        if (s.kind === 'raw' || (s.kind === 'zeros' && s.size <= ZEROS.length)) {
          pending.push(s.kind === 'raw' ? s.data : ZEROS.subarray(0, s.size));
          pendingBytes += s.kind === 'raw' ? s.data.length : s.size;
          if (pendingBytes >= GATHER) yield gathered();
          continue;
        }
        if (s.kind === 'zeros') {
          if (pendingBytes > 0) yield gathered();
          for (let left = s.size; left > 0; left -= ZEROS.length) yield left >= ZEROS.length ? ZEROS : ZEROS.subarray(0, left);
          continue;
        }
        if (item.data) {
          reading--;
          for (const b of await item.data) {
            pending.push(b);
            pendingBytes += b.length;
          }
          if (pendingBytes >= GATHER) yield gathered();
          continue;
        }
        if (pendingBytes > 0) yield gathered();
        yield* contentChunks(await open(s.path, s.size), s.path, s.size);
      }
      if (pendingBytes > 0) yield gathered();
    } finally {
      await segs.return(undefined);
    }
  }
  const out = Readable.from(bytes(), { objectMode: false });
  out.once('close', () => record.close());
  return out;
}
