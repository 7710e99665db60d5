// Byte-exact tar headers for the archives ufs writes: POSIX ustar blocks plus PAX extended records
// (long or non-ASCII names, large ids/sizes, binary-safe SCHILY.xattr values), and PAX parsing.
import { fsError } from '../errors.js';

export type TarType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo';

const TYPEFLAG: Record<TarType, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  'character-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
};

/** One entry's header as ufs writes it. Names are archive paths (directories end with '/'). */
export interface TarHeader {
  name: string;
  type: TarType;
  /** Permission bits only (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Data size (0 for everything but regular files). */
  size: number;
  /** Whole seconds since the epoch. */
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, written as PAX `SCHILY.xattr.<name>` records (values are raw bytes). */
  xattrs?: ReadonlyMap<string, Buffer>;
}

export const BLOCK = 512;
/** The end-of-archive marker: two zero blocks. */
export const TAR_END: Buffer = Buffer.alloc(2 * BLOCK);

/** Zero bytes that pad `size` bytes of data up to a whole block. */
export function padding(size: number): Buffer {
  const r = size % BLOCK;
  return r === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - r);
}

const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

function isAscii(s: string): boolean {
  return /^[\x01-\x7f]*$/.test(s);
}

/** Writes `value` as zero-padded octal of `digits` digits followed by NUL. */
function writeOctal(buf: Buffer, off: number, digits: number, value: number): void {
  buf.write(value.toString(8).padStart(digits, '0') + '\0', off, digits + 1, 'ascii');
}

/** Splits a name into ustar prefix (≤155) and name (≤100) at a '/', or null when it cannot be. */
function ustarSplit(name: string): { prefix: string; name: string } | null {
  if (!isAscii(name)) return null;
  if (name.length <= 100) return { prefix: '', name };
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (rest.length > 100) return null;
    if (rest.length > 0 && prefix.length <= 155) return { prefix, name: rest };
  }
  return null;
}

/** One PAX record: "<len> <key>=<value>\n", where <len> counts the whole record. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), 'ascii'), body]);
}

function ustarBlock(fields: {
  name: string; prefix: string; mode: number; uid: number; gid: number; size: number; mtime: number;
  typeflag: string; linkname: string; devmajor?: number; devminor?: number;
}): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(fields.name, 0, 100, 'utf8');
  writeOctal(b, 100, 7, fields.mode);
  writeOctal(b, 108, 7, fields.uid);
  writeOctal(b, 116, 7, fields.gid);
  writeOctal(b, 124, 11, fields.size);
  writeOctal(b, 136, 11, fields.mtime);
  b.write(fields.typeflag, 156, 1, 'ascii');
  b.write(fields.linkname, 157, 100, 'utf8');
  b.write('ustar\0', 257, 6, 'ascii');
  b.write('00', 263, 2, 'ascii');
  // uname/gname stay empty: ids are what counts, names would make the bytes depend on the host.
  if (fields.devmajor !== undefined) writeOctal(b, 329, 7, fields.devmajor);
  if (fields.devminor !== undefined) writeOctal(b, 337, 7, fields.devminor);
  b.write(fields.prefix, 345, 155, 'utf8');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return b;
}

/** Replaces what ustar cannot hold with '_' and truncates, for the fallback name of a PAX entry. */
function asciiFallback(s: string, max: number): string {
  let out = s.replace(/[^\x01-\x7f]/g, '_');
  if (out.length > max) out = out.slice(0, max);
  return out;
}

/**
 * Encodes one entry's header: a ustar block, preceded by a PAX extended header ('x') when the
 * entry needs one. Deterministic: the same header always gives the same bytes.
 */
export function encodeHeader(h: TarHeader): Buffer {
  if (!Number.isSafeInteger(h.size) || h.size < 0) throw fsError('EINVAL', 'tar', h.name, undefined, `invalid size ${h.size}`);
  const records: Buffer[] = [];
  const split = ustarSplit(h.name);
  if (split === null) records.push(paxRecord('path', Buffer.from(h.name, 'utf8')));
  const linkname = h.linkname ?? '';
  const linkFits = isAscii(linkname) && linkname.length <= 100;
  if (!linkFits) records.push(paxRecord('linkpath', Buffer.from(linkname, 'utf8')));
  const mtime = Math.max(0, Math.floor(h.mtime));
  if (mtime > MAX_OCTAL_11) records.push(paxRecord('mtime', Buffer.from(String(mtime))));
  if (h.size > MAX_OCTAL_11) records.push(paxRecord('size', Buffer.from(String(h.size))));
  if (h.uid > MAX_OCTAL_7) records.push(paxRecord('uid', Buffer.from(String(h.uid))));
  if (h.gid > MAX_OCTAL_7) records.push(paxRecord('gid', Buffer.from(String(h.gid))));
  if (h.xattrs) {
    const names = [...h.xattrs.keys()].sort(compareBytes);
    for (const n of names) records.push(paxRecord(`SCHILY.xattr.${n}`, h.xattrs.get(n)!));
  }
  const main = ustarBlock({
    name: split ? split.name : asciiFallback(h.name, 100),
    prefix: split ? split.prefix : '',
    mode: h.mode & 0o7777,
    uid: Math.min(h.uid, MAX_OCTAL_7),
    gid: Math.min(h.gid, MAX_OCTAL_7),
    size: Math.min(h.size, MAX_OCTAL_11),
    mtime: Math.min(mtime, MAX_OCTAL_11),
    typeflag: TYPEFLAG[h.type],
    linkname: linkFits ? linkname : asciiFallback(linkname, 100),
    ...(h.type === 'character-device' || h.type === 'block-device' ? { devmajor: h.devmajor ?? 0, devminor: h.devminor ?? 0 } : {}),
  });
  if (records.length === 0) return main;
  const pax = Buffer.concat(records);
  const paxHeader = ustarBlock({
    name: 'PaxHeader', prefix: '', mode: 0o644, uid: 0, gid: 0, size: pax.length, mtime: Math.min(mtime, MAX_OCTAL_11),
    typeflag: 'x', linkname: '',
  });
  return Buffer.concat([paxHeader, pax, padding(pax.length), main]);
}

/** Byte-wise comparison of two strings as UTF-8 (the order ufs sorts archive names in). */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Parses the records of a PAX extended header keeping values as raw bytes (xattr values are
 * binary). Malformed records end the parse, as tar-stream does.
 */
export function parsePaxRecords(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < buf.length) {
    let sp = off;
    while (sp < buf.length && buf[sp] !== 0x20) sp++;
    const len = parseInt(buf.toString('ascii', off, sp), 10);
    if (!Number.isSafeInteger(len) || len <= 0 || off + len > buf.length) break;
    const rec = buf.subarray(sp + 1, off + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq < 0) break;
    out.set(rec.toString('utf8', 0, eq), Buffer.from(rec.subarray(eq + 1)));
    off += len;
  }
  return out;
}

/** Linux dev_t → major/minor, as glibc's gnu_dev_major/minor. */
export function devMajor(rdev: number): number {
  const d = BigInt(rdev);
  return Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
}
export function devMinor(rdev: number): number {
  const d = BigInt(rdev);
  return Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
}
/** major/minor → Linux dev_t, as glibc's gnu_dev_makedev. */
export function makeDev(major: number, minor: number): number {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return Number((mi & 0xffn) | ((ma & 0xfffn) << 8n) | ((mi & ~0xffn) << 12n) | ((ma & ~0xfffn) << 32n));
}
