// Output of `ufs`: exit codes scripts can rely on, one-line error messages, tables, sizes and ages
// the way Docker prints them.
import { isErrno, type ErrnoLike } from '../errors.js';

/** Exit codes of `ufs` (documented in docs/store.md and `ufs --help`). */
export const EXIT = {
  OK: 0,
  /** Anything else that failed (I/O errors, corrupt data...). */
  ERROR: 1,
  /** Bad command line: unknown command or option, missing or extra arguments. */
  USAGE: 2,
  /** The named image, layer, container or file does not exist. */
  NOT_FOUND: 3,
  /** Refused: in use, already exists, has dependents, would not round-trip. */
  REFUSED: 4,
  /** The storage driver cannot work here (privileges, native addon, filesystem). */
  UNAVAILABLE: 5,
  /** `ufs check` found leftovers or problems (or repair could not fix everything). */
  CHECK_FAILED: 6,
  /** The store stayed locked by another process for the whole lock timeout. */
  LOCKED: 7,
} as const;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The exit code for an error thrown by a command. */
export function exitCodeOf(e: unknown): number {
  if (e instanceof UsageError) return EXIT.USAGE;
  if (!isErrno(e)) return EXIT.ERROR;
  if (e.syscall === 'flock' && e.code === 'EBUSY') return EXIT.LOCKED;
  switch (e.code) {
    case 'ENOENT':
      return EXIT.NOT_FOUND;
    case 'EBUSY':
    case 'EEXIST':
    case 'ENOTEMPTY':
    case 'ESTALE':
      return EXIT.REFUSED;
    case 'EINVAL':
      return e.syscall === 'migrate' ? EXIT.REFUSED : EXIT.ERROR;
    case 'ENOTSUP':
    case 'EPERM':
    case 'EACCES':
      return e.syscall === 'driver' ? EXIT.UNAVAILABLE : EXIT.ERROR;
    default:
      return EXIT.ERROR;
  }
}

/**
 * The one-line message for an error: ufs errors carry their own wording (without the
 * `CODE: ..., syscall 'path'` frame); others get the frame of node:fs.
 */
export function errorLine(e: unknown): string {
  if (e instanceof UsageError) return e.message;
  if (!(e instanceof Error)) return String(e);
  const x = e as ErrnoLike;
  let msg = e.message;
  if (typeof x.code === 'string' && msg.startsWith(`${x.code}: `)) {
    let suffix = `, ${x.syscall ?? ''}`;
    if (x.path !== undefined) suffix += ` '${x.path}'`;
    if (x.dest !== undefined) suffix += ` -> '${x.dest}'`;
    const body = msg.slice(x.code.length + 2);
    // A ufs error whose text already names the thing: keep only its words.
    if (body.endsWith(suffix) && x.path !== undefined && body.slice(0, -suffix.length).includes(x.path)) msg = body.slice(0, -suffix.length);
    else if (body.endsWith(suffix)) msg = `${body.slice(0, -suffix.length)}${x.path !== undefined ? `: ${x.path}` : ''}`;
  }
  return msg.split('\n')[0]!;
}

/** Columns padded to their widest cell, separated by three spaces (Docker's look). */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** Bytes in SI units with three significant digits, as Docker prints them ('1.23MB'). */
export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  const s = i === 0 ? String(v) : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  return `${s}${units[i]}`;
}

/** '3 seconds ago', '2 hours ago'... */
export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  const steps: [number, string][] = [[60, 'second'], [60, 'minute'], [24, 'hour'], [7, 'day'], [4.35, 'week'], [12, 'month'], [Infinity, 'year']];
  let v = s;
  for (const [k, unit] of steps) {
    if (v < k) {
      const n = Math.floor(v);
      return n <= 1 && unit === 'second' ? 'Less than a second ago' : `${n} ${unit}${n === 1 ? '' : 's'} ago`;
    }
    v /= k;
  }
  return iso;
}

/** A digest shortened as Docker shows IDs (12 hex digits), unless full IDs are asked for. */
export function idOut(d: string, full: boolean): string {
  if (full) return d;
  return (d.startsWith('sha256:') ? d.slice(7) : d).slice(0, 12);
}

export function json(v: unknown): string {
  return JSON.stringify(v, null, 2);
}
