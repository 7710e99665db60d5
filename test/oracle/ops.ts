// Oracle operations: a fast-check arbitrary of random operation sequences over a small name pool
// that keeps hitting names of the fixture's lower layers, and applyOp, which runs one op and
// normalises its outcome (value or error code) so that two filesystems can be compared.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import fc from 'fast-check';
import { FIXTURE_PATHS, FIXTURE_TIMES, RECENT_CUTOFF_MS } from './layers.js';

/** What the harness needs of a Stats object (node:fs's and UnionFs's both fit). */
export interface StatsLike {
  mode: number;
  size: number;
  nlink: number;
  uid: number;
  gid: number;
  mtimeMs: number;
}

export interface FileHandleLike {
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<unknown>;
  close(): Promise<void>;
}

/** The node:fs/promises-shaped subset the harness drives (node:fs/promises itself and UnionFs fit). */
export interface FsLike {
  readFile(p: string): Promise<Buffer | string>;
  writeFile(p: string, data: string): Promise<void>;
  appendFile(p: string, data: string): Promise<void>;
  open(p: string, flags: string): Promise<FileHandleLike>;
  truncate(p: string, len: number): Promise<void>;
  chmod(p: string, mode: number): Promise<void>;
  mkdir(p: string, opts: { recursive: boolean }): Promise<unknown>;
  rmdir(p: string): Promise<void>;
  unlink(p: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  symlink(target: string, p: string): Promise<void>;
  link(existing: string, p: string): Promise<void>;
  stat(p: string): Promise<StatsLike>;
  lstat(p: string): Promise<StatsLike>;
  readdir(p: string): Promise<unknown[]>;
  readlink(p: string): Promise<string>;
  utimes(p: string, atime: number, mtime: number): Promise<void>;
  rm(p: string, opts: { recursive: boolean; force: boolean }): Promise<void>;
}

/** A filesystem under test: its API and how a relative path ('' = root, 'md/a') maps into it. */
export interface Target {
  label: string;
  fs: FsLike;
  p(rel: string): string;
}

/** A target the harness made for one run and must release afterwards. */
export interface OwnedTarget extends Target {
  cleanup(): Promise<void>;
}

export type Op =
  | { op: 'writeFile'; path: string; data: string }
  | { op: 'write'; path: string; offset: number; data: string }
  | { op: 'appendFile'; path: string; data: string }
  | { op: 'truncate'; path: string; len: number }
  | { op: 'chmod'; path: string; mode: number }
  | { op: 'mkdir'; path: string; recursive: boolean }
  | { op: 'rmdir'; path: string }
  | { op: 'unlink'; path: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'symlink'; target: string; path: string }
  | { op: 'link'; from: string; to: string }
  | { op: 'readFile'; path: string }
  | { op: 'stat'; path: string }
  | { op: 'lstat'; path: string }
  | { op: 'readdir'; path: string }
  | { op: 'readlink'; path: string }
  | { op: 'utimes'; path: string; mtime: number }
  | { op: 'rm'; path: string; force: boolean };

export type Outcome = { ok: true; value: unknown } | { ok: false; code: string };

/** Names no fixture layer has (creation targets), next to ones that live in lower layers. */
export const NEW_PATHS: readonly string[] = ['n1', 'n2', 'md/n1', 'q/n1', 'op/n1', 'rd/n1', 'nd', 'nd/n1'];
export const PATH_POOL: readonly string[] = [...FIXTURE_PATHS, ...NEW_PATHS];
/** Symlink targets: relative only (an absolute or root-escaping target means different things by design). */
export const SYMLINK_TARGETS: readonly string[] = ['ov', 'md', 'md/a', 'n1', 'x', 'sl', 'missing', 'op/c'];
export const CHMOD_MODES: readonly number[] = [0o644, 0o600, 0o755, 0o700, 0o444, 0o000, 0o1777, 0o4755];
export const UTIMES: readonly number[] = [...FIXTURE_TIMES, 1_100_000_000];

const pathArb = fc.constantFrom(...PATH_POOL);
const dirPathArb = fc.constantFrom('', ...PATH_POOL);
const dataArb = fc.string({ unit: fc.constantFrom('a', 'b', 'z', '\n', '\u00e9'), maxLength: 12 });

/** One random operation; reads and writes weighted so that sequences change things and look at them. */
export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('writeFile' as const), path: pathArb, data: dataArb }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('write' as const), path: pathArb, offset: fc.integer({ min: 0, max: 40 }), data: dataArb }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('appendFile' as const), path: pathArb, data: dataArb }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('truncate' as const), path: pathArb, len: fc.integer({ min: 0, max: 30 }) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('chmod' as const), path: pathArb, mode: fc.constantFrom(...CHMOD_MODES) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('mkdir' as const), path: pathArb, recursive: fc.boolean() }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('rmdir' as const), path: pathArb }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('unlink' as const), path: pathArb }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('rename' as const), from: pathArb, to: pathArb }), weight: 5 },
  { arbitrary: fc.record({ op: fc.constant('symlink' as const), target: fc.constantFrom(...SYMLINK_TARGETS), path: pathArb }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('link' as const), from: pathArb, to: pathArb }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('readFile' as const), path: pathArb }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('stat' as const), path: pathArb }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('lstat' as const), path: pathArb }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('readdir' as const), path: dirPathArb }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('readlink' as const), path: pathArb }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('utimes' as const), path: pathArb, mtime: fc.constantFrom(...UTIMES) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('rm' as const), path: pathArb, force: fc.boolean() }), weight: 2 },
);

/** A random sequence of operations. */
export function opsArb(maxLength = 12): fc.Arbitrary<Op[]> {
  return fc.array(opArb, { minLength: 1, maxLength });
}

/** One op as a line of code, for counterexamples. */
export function formatOp(op: Op): string {
  const q = (s: string): string => JSON.stringify(s);
  switch (op.op) {
    case 'write': return `write(${q(op.path)}, at ${op.offset}, ${q(op.data)})`;
    case 'truncate': return `truncate(${q(op.path)}, ${op.len})`;
    case 'chmod': return `chmod(${q(op.path)}, 0o${op.mode.toString(8)})`;
    case 'mkdir': return `mkdir(${q(op.path)}${op.recursive ? ', { recursive: true }' : ''})`;
    case 'rename': case 'link': return `${op.op}(${q(op.from)}, ${q(op.to)})`;
    case 'symlink': return `symlink(${q(op.target)}, ${q(op.path)})`;
    case 'utimes': return `utimes(${q(op.path)}, ${op.mtime})`;
    case 'rm': return `rm(${q(op.path)}, { recursive: true, force: ${op.force} })`;
    case 'writeFile': case 'appendFile': return `${op.op}(${q(op.path)}, ${q(op.data)})`;
    default: return `${op.op}(${q(op.path)})`;
  }
}

export function typeName(mode: number): string {
  switch (mode & constants.S_IFMT) {
    case constants.S_IFREG: return 'file';
    case constants.S_IFDIR: return 'dir';
    case constants.S_IFLNK: return 'symlink';
    case constants.S_IFCHR: return 'chardev';
    case constants.S_IFBLK: return 'blockdev';
    case constants.S_IFIFO: return 'fifo';
    case constants.S_IFSOCK: return 'socket';
    default: return 'unknown';
  }
}

/** A timestamp as compared: exact when old (set by the fixture or utimes), 'recent' when written now. */
export function timeBucket(ms: number): number | 'recent' {
  return ms >= RECENT_CUTOFF_MS ? 'recent' : Math.round(ms);
}

/**
 * The comparable part of a stat: type, permission bits, uid/gid, mtime bucket, and for
 * non-directories size and nlink (a directory's size and link count are filesystem-specific,
 * and overlayfs reports merged directories' nlink specially).
 */
export function normStat(st: StatsLike): Record<string, unknown> {
  const type = typeName(st.mode);
  const out: Record<string, unknown> = { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: timeBucket(st.mtimeMs) };
  if (type !== 'dir') {
    out.size = Number(st.size);
    out.nlink = st.nlink;
  }
  return out;
}

/** File content as compared: the text when short, else its length and sha256. */
export function normContent(data: Buffer | string): string {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  if (buf.length <= 48) return JSON.stringify(buf.toString('latin1'));
  return `${buf.length} bytes sha256:${createHash('sha256').update(buf).digest('hex')}`;
}

function errorCode(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return `(no code: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)})`;
}

async function perform(t: Target, op: Op): Promise<unknown> {
  const { fs } = t;
  switch (op.op) {
    case 'writeFile': return fs.writeFile(t.p(op.path), op.data);
    case 'write': {
      const h = await fs.open(t.p(op.path), 'r+');
      try {
        const buf = Buffer.from(op.data);
        await h.write(buf, 0, buf.length, op.offset);
      } finally {
        await h.close();
      }
      return undefined;
    }
    case 'appendFile': return fs.appendFile(t.p(op.path), op.data);
    case 'truncate': return fs.truncate(t.p(op.path), op.len);
    case 'chmod': return fs.chmod(t.p(op.path), op.mode);
    case 'mkdir': await fs.mkdir(t.p(op.path), { recursive: op.recursive }); return undefined;
    case 'rmdir': return fs.rmdir(t.p(op.path));
    case 'unlink': return fs.unlink(t.p(op.path));
    case 'rename': return fs.rename(t.p(op.from), t.p(op.to));
    case 'symlink': return fs.symlink(op.target, t.p(op.path));
    case 'link': return fs.link(t.p(op.from), t.p(op.to));
    case 'readFile': return normContent(await fs.readFile(t.p(op.path)));
    case 'stat': return normStat(await fs.stat(t.p(op.path)));
    case 'lstat': return normStat(await fs.lstat(t.p(op.path)));
    case 'readdir': return (await fs.readdir(t.p(op.path))).map(String).sort();
    case 'readlink': return fs.readlink(t.p(op.path));
    case 'utimes': return fs.utimes(t.p(op.path), op.mtime, op.mtime);
    case 'rm': return fs.rm(t.p(op.path), { recursive: true, force: op.force });
  }
}

/** Runs one op on a target: `{ ok: true, value }` (undefined for changes) or `{ ok: false, code }`. */
export async function applyOp(t: Target, op: Op): Promise<Outcome> {
  try {
    const value = await perform(t, op);
    return { ok: true, value: value ?? null };
  } catch (e) {
    return { ok: false, code: errorCode(e) };
  }
}

export function formatOutcome(o: Outcome): string {
  return o.ok ? `ok ${JSON.stringify(o.value)}` : `error ${o.code}`;
}
