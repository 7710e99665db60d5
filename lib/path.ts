// Pure union-path handling: argument validation as node:fs does it (type, NUL bytes), splitting
// into components, and the name/path length limits of Linux (NAME_MAX 255, PATH_MAX 4096).
import { fsError } from './errors.js';

export const NAME_MAX = 255;
export const PATH_MAX = 4096;

/** What callers may pass as a path: like node:fs, a string, a Buffer/Uint8Array or a file: URL. */
export type PathLike = string | Buffer | URL;

function invalidArg(name: string, value: unknown, what: string): TypeError {
  const err = new TypeError(
    `The argument '${name}' must be ${what}. Received ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`,
  ) as TypeError & { code: string };
  err.code = what.includes('null bytes') ? 'ERR_INVALID_ARG_VALUE' : 'ERR_INVALID_ARG_TYPE';
  return err;
}

/** Turns a PathLike into a string, throwing the TypeErrors node:fs throws for bad arguments. */
export function pathString(p: unknown, argName = 'path'): string {
  let s: string;
  if (typeof p === 'string') s = p;
  else if (p instanceof Uint8Array) s = Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('utf8');
  else if (p instanceof URL) {
    if (p.protocol !== 'file:') throw invalidArg(argName, p, 'of scheme file');
    s = decodeURIComponent(p.pathname);
  } else throw invalidArg(argName, p, 'of type string or an instance of Buffer or URL');
  if (s.includes('\u0000')) throw invalidArg(argName, s, 'a string, Uint8Array, or URL without null bytes');
  return s;
}

/**
 * Splits a union path into its components ('.' dropped, '..' kept for the resolver, which must
 * apply it after following symlinks). Relative paths are taken from the union root.
 * Checks NAME_MAX per component and `max` (PATH_MAX unless told) for the whole string.
 */
export function splitPath(p: string, syscall: string, max = PATH_MAX): string[] {
  if (p.length === 0) throw fsError('ENOENT', syscall, p);
  if (p.length * 3 >= max && Buffer.byteLength(p) >= max) throw fsError('ENAMETOOLONG', syscall, p);
  const out: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c.length > NAME_MAX / 3 && Buffer.byteLength(c) > NAME_MAX) throw fsError('ENAMETOOLONG', syscall, p);
    out.push(c);
  }
  return out;
}

/** The canonical union path of resolved components ('/' for none). */
export function joinComponents(parts: readonly string[]): string {
  return parts.length === 0 ? '/' : '/' + parts.join('/');
}

/** The layer-relative path of resolved components ('' for the root). */
export function relOf(parts: readonly string[]): string {
  return parts.join('/');
}

export function parentRel(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}

export function baseName(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? rel : rel.slice(i + 1);
}

export function childRel(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** The union path ('/a/b') of a layer-relative path ('a/b'). */
export function unionPath(rel: string): string {
  return '/' + rel;
}
