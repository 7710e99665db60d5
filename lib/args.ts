// Argument conversion as node:fs does it: string open flags ('r', 'wx', 'a+'...) to numbers,
// modes given as numbers or octal strings, and times given as numbers, strings or Dates.
import fs from 'node:fs';
import { fsError } from './errors.js';

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_SYNC } = fs.constants;

export type OpenFlags = string | number;

const table: Record<string, number> = {
  r: O_RDONLY,
  rs: O_RDONLY | O_SYNC,
  sr: O_RDONLY | O_SYNC,
  'r+': O_RDWR,
  'rs+': O_RDWR | O_SYNC,
  'sr+': O_RDWR | O_SYNC,
  w: O_TRUNC | O_CREAT | O_WRONLY,
  wx: O_TRUNC | O_CREAT | O_WRONLY | O_EXCL,
  xw: O_TRUNC | O_CREAT | O_WRONLY | O_EXCL,
  'w+': O_TRUNC | O_CREAT | O_RDWR,
  'wx+': O_TRUNC | O_CREAT | O_RDWR | O_EXCL,
  'xw+': O_TRUNC | O_CREAT | O_RDWR | O_EXCL,
  a: O_APPEND | O_CREAT | O_WRONLY,
  ax: O_APPEND | O_CREAT | O_WRONLY | O_EXCL,
  xa: O_APPEND | O_CREAT | O_WRONLY | O_EXCL,
  as: O_APPEND | O_CREAT | O_WRONLY | O_SYNC,
  sa: O_APPEND | O_CREAT | O_WRONLY | O_SYNC,
  'a+': O_APPEND | O_CREAT | O_RDWR,
  'ax+': O_APPEND | O_CREAT | O_RDWR | O_EXCL,
  'xa+': O_APPEND | O_CREAT | O_RDWR | O_EXCL,
  'as+': O_APPEND | O_CREAT | O_RDWR | O_SYNC,
  'sa+': O_APPEND | O_CREAT | O_RDWR | O_SYNC,
};

export function parseFlags(flags: OpenFlags | undefined | null): number {
  if (flags === undefined || flags === null) return O_RDONLY;
  if (typeof flags === 'number') return flags;
  const v = table[flags];
  if (v === undefined) {
    const e = new TypeError(`The value "${flags}" is invalid for option "flags"`) as TypeError & { code: string };
    e.code = 'ERR_INVALID_ARG_VALUE';
    throw e;
  }
  return v;
}

export function parseMode(mode: number | string | undefined | null, def: number): number {
  if (mode === undefined || mode === null) return def;
  if (typeof mode === 'number') return mode;
  if (/^[0-7]+$/.test(mode)) return parseInt(mode, 8);
  throw fsError('EINVAL', 'mode', undefined, undefined, `invalid mode ${mode}`);
}

export function toTime(t: number | string | Date): number | Date {
  if (t instanceof Date) return t;
  if (typeof t === 'string') return Number(t);
  return t;
}

export { O_WRONLY };

/**
 * A time as node:fs's utimes calls must get it: node turns a negative number of seconds into "now"
 * (a number string is taken as it is), so times before 1970 go as strings.
 */
export function nodeTime(t: number | Date): number | string | Date {
  return typeof t === 'number' && t < 0 ? String(t) : t;
}
