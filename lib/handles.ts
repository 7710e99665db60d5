// Open files of the union: a FileHandle shaped like node:fs/promises', reading and writing the
// file descriptor of the layer that holds the file, re-pointed to the upper copy after a copy-up.
import fs from 'node:fs';
import type { LayerHandle } from './layers/layer.js';
import { UPPER, type UnionCore } from './core.js';
import { fsError, relabel } from './errors.js';
import { unionStats } from './stats.js';

const { O_RDONLY, O_CREAT, O_EXCL, O_TRUNC, O_APPEND } = fs.constants;
const O_ACCMODE = 3;

export interface ReadResult<T> {
  bytesRead: number;
  buffer: T;
}
export interface WriteResult<T> {
  bytesWritten: number;
  buffer: T;
}
interface ReadOptions<T> {
  buffer?: T;
  offset?: number;
  length?: number;
  position?: number | bigint | null;
}

/** What the union does for a handle whose file still lies in a lower layer and must change. */
export interface HandleHost {
  core: UnionCore;
  /** Copies the file up (re-pointing this and every other handle on it). */
  copyUpPath(unionPath: string): Promise<void>;
  /** Forgets a closed handle. */
  release(h: UnionFileHandle): void;
}

export class UnionFileHandle {
  private pos = 0;
  private closed = false;

  constructor(
    private readonly host: HandleHost,
    private h: LayerHandle,
    /** The layer holding the open file (UPPER after a copy-up). */
    public layer: number,
    /** The file's union path when it was opened (a lower file cannot move without a copy-up). */
    public readonly unionPath: string,
    public readonly unionIno: number,
    public readonly flags: number,
    /** For a metacopy file read from its lower data: the upper path holding its metadata. */
    private metaRel: string | null = null,
  ) {}

  /**
   * Told the new `fd` synchronously when it changes: after a copy-up re-opened the file (before the
   * old descriptor is closed) and -1 before the handle closes (the FUSE binding reads it in C).
   */
  onFdChange: ((fd: number) => void) | null = null;

  /** The real file descriptor in the layer holding the file (-1 for memory layers). */
  get fd(): number {
    return this.h.fd ?? -1;
  }

  /**
   * Whether writes at a position may go straight to `fd` (pwrite) with the same effect as write():
   * the file is the upper layer's own (copied up, metadata complete) and open for writing.
   */
  get fdWritable(): boolean {
    return !this.closed && this.layer === UPPER && this.metaRel === null && (this.flags & O_ACCMODE) !== O_RDONLY && this.fd >= 0;
  }

  private check(syscall: string): LayerHandle {
    if (this.closed) throw fsError('EBADF', syscall);
    return this.h;
  }

  /** Re-opens the file in the upper layer after it was copied up. */
  async repoint(upperRel: string): Promise<void> {
    if (this.closed || this.layer === UPPER) return;
    const nh = await this.host.core.layer(UPPER).open(upperRel, this.flags & ~(O_CREAT | O_EXCL | O_TRUNC));
    if (this.closed) return nh.close(); // closed meanwhile
    const old = this.h;
    this.h = nh;
    this.layer = UPPER;
    this.metaRel = null;
    this.onFdChange?.(this.fd);
    await old.close();
  }

  private async ensureUpper(): Promise<void> {
    if (this.layer !== UPPER) await this.host.copyUpPath(this.unionPath);
  }

  read<T extends NodeJS.ArrayBufferView>(buffer: T, offset?: number | null, length?: number | null, position?: number | bigint | null): Promise<ReadResult<T>>;
  read<T extends NodeJS.ArrayBufferView>(buffer: T, options?: ReadOptions<T>): Promise<ReadResult<T>>;
  read<T extends NodeJS.ArrayBufferView = Buffer>(options?: ReadOptions<T>): Promise<ReadResult<T>>;
  async read<T extends NodeJS.ArrayBufferView = Buffer>(
    buffer?: T | ReadOptions<T>,
    offset?: number | null | ReadOptions<T>,
    length?: number | null,
    position?: number | bigint | null,
  ): Promise<ReadResult<T>> {
    let buf: T;
    let off = 0;
    let len: number | undefined;
    let pos: number | bigint | null | undefined;
    if (buffer === undefined || (typeof buffer === 'object' && !ArrayBuffer.isView(buffer))) {
      const o = (buffer ?? {}) as ReadOptions<T>;
      buf = o.buffer ?? (Buffer.alloc(16384) as unknown as T);
      off = o.offset ?? 0;
      len = o.length;
      pos = o.position;
    } else {
      buf = buffer as T;
      if (typeof offset === 'object' && offset !== null) {
        off = offset.offset ?? 0;
        len = offset.length;
        pos = offset.position;
      } else {
        off = offset ?? 0;
        len = length ?? undefined;
        pos = position;
      }
    }
    len ??= buf.byteLength - off;
    const view = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    const h = this.check('read');
    if ((this.flags & O_ACCMODE) === fs.constants.O_WRONLY) throw fsError('EBADF', 'read');
    const usePos = pos === null || pos === undefined || pos === -1 || pos === -1n;
    const at = usePos ? this.pos : Number(pos);
    try {
      const n = await h.read(view, off, len, at);
      if (usePos) this.pos += n;
      return { bytesRead: n, buffer: buf };
    } catch (e) {
      throw relabel(e, 'read');
    }
  }

  async write<T extends NodeJS.ArrayBufferView | string>(
    data: T,
    offsetOrPosition?: number | null,
    lengthOrEncoding?: number | BufferEncoding | null,
    position?: number | null,
  ): Promise<WriteResult<T>> {
    this.check('write');
    if ((this.flags & O_ACCMODE) === O_RDONLY) throw fsError('EBADF', 'write');
    let view: Uint8Array;
    let pos: number | null | undefined;
    if (typeof data === 'string') {
      view = Buffer.from(data, (typeof lengthOrEncoding === 'string' ? lengthOrEncoding : 'utf8') as BufferEncoding);
      pos = offsetOrPosition;
    } else {
      const all = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      const off = offsetOrPosition ?? 0;
      const len = typeof lengthOrEncoding === 'number' ? lengthOrEncoding : all.byteLength - off;
      view = all.subarray(off, off + len);
      pos = position;
    }
    await this.ensureUpper();
    const usePos = pos === null || pos === undefined || pos < 0;
    const at: number = usePos ? this.pos : (pos as number);
    let written = 0;
    try {
      while (written < view.byteLength) {
        const n = await this.h.write(view, written, view.byteLength - written, at + written);
        if (n === 0) break;
        written += n;
      }
    } catch (e) {
      throw relabel(e, 'write');
    }
    if (usePos) this.pos = (this.flags & O_APPEND) !== 0 ? (await this.h.stat()).size : this.pos + written;
    return { bytesWritten: written, buffer: data };
  }

  async readFile(options?: { encoding?: null } | null): Promise<Buffer>;
  async readFile(options: { encoding: BufferEncoding } | BufferEncoding): Promise<string>;
  async readFile(options?: { encoding?: BufferEncoding | null } | BufferEncoding | null): Promise<Buffer | string>;
  async readFile(options?: { encoding?: BufferEncoding | null } | BufferEncoding | null): Promise<Buffer | string> {
    const enc = typeof options === 'string' ? options : (options?.encoding ?? null);
    const chunks: Buffer[] = [];
    for (;;) {
      const b = Buffer.allocUnsafe(1 << 16);
      const { bytesRead } = await this.read(b, 0, b.length, null);
      if (bytesRead === 0) break;
      chunks.push(b.subarray(0, bytesRead));
    }
    const all = Buffer.concat(chunks);
    return enc ? all.toString(enc) : all;
  }

  async writeFile(data: string | NodeJS.ArrayBufferView, options?: { encoding?: BufferEncoding | null } | BufferEncoding | null): Promise<void> {
    const enc = (typeof options === 'string' ? options : options?.encoding) ?? 'utf8';
    const buf = typeof data === 'string' ? Buffer.from(data, enc) : data;
    await this.write(buf, 0, buf.byteLength, null);
  }

  appendFile(data: string | NodeJS.ArrayBufferView, options?: { encoding?: BufferEncoding | null } | BufferEncoding | null): Promise<void> {
    return this.writeFile(data, options);
  }

  async stat(): Promise<fs.Stats> {
    const h = this.check('fstat');
    const st = this.metaRel !== null ? await this.host.core.layer(UPPER).lstat(this.metaRel) : await h.stat();
    return unionStats(st, this.unionIno, this.host.core.dev);
  }

  async truncate(len = 0): Promise<void> {
    this.check('ftruncate');
    if ((this.flags & O_ACCMODE) === O_RDONLY) throw fsError('EINVAL', 'ftruncate');
    await this.ensureUpper();
    await this.h.truncate(len);
  }

  async sync(): Promise<void> {
    await this.check('fsync').sync();
  }

  async datasync(): Promise<void> {
    await this.check('fdatasync').datasync();
  }

  async chmod(mode: number | string): Promise<void> {
    this.check('fchmod');
    await this.ensureUpper();
    await this.h.chmod(typeof mode === 'string' ? parseInt(mode, 8) : mode);
  }

  async chown(uid: number, gid: number): Promise<void> {
    this.check('fchown');
    await this.ensureUpper();
    await this.h.chown(uid, gid);
  }

  async utimes(atime: number | string | Date, mtime: number | string | Date): Promise<void> {
    this.check('futime');
    await this.ensureUpper();
    const t = (v: number | string | Date): number | Date => (typeof v === 'string' ? Number(v) : v);
    await this.h.utimes(t(atime), t(mtime));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.host.release(this);
    this.onFdChange?.(-1);
    await this.h.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
