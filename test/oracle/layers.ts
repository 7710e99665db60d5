// Oracle fixtures: one logical stack of lower layers (made deterministically from a seed), written
// to disk in either whiteout format, converted aufs → overlay, and merged by a reference rule.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fsp from 'node:fs/promises';
import path from 'node:path';

const run = promisify(execFile);

export type WhiteoutFormatName = 'overlay' | 'aufs';

/** One entry of one layer. Paths are relative ('md/a'), parents come before children. */
export type LayerEntry =
  | { kind: 'file'; path: string; content: string; mode: number; mtime: number }
  | { kind: 'dir'; path: string; mode: number; mtime: number; opaque: boolean }
  | { kind: 'symlink'; path: string; target: string; mtime: number }
  /** A second name of the regular file `target` of the same layer. */
  | { kind: 'hardlink'; path: string; target: string }
  | { kind: 'whiteout'; path: string };

/** The logical fixture: `layers[0]` is the topmost lower layer (like `lowerdir=` of overlayfs). */
export interface FixtureSpec {
  seed: number;
  layers: LayerEntry[][];
}

/** Old, fixed timestamps (seconds) given to fixture entries; anything a test writes is newer. */
export const FIXTURE_TIMES = [946_684_800, 978_307_200, 1_009_843_200, 1_041_379_200] as const;
/** Timestamps at or after this (2015) count as "recent" in outcomes and snapshots. */
export const RECENT_CUTOFF_MS = 1_420_070_400_000;

/**
 * Paths the fixture may hold in some layer, whatever the seed: the op generator draws from these
 * (plus names no layer has) so that operations keep hitting names from various lower layers.
 */
export const FIXTURE_PATHS: readonly string[] = [
  'wh', 'ov', 'md', 'md/a', 'md/b', 'md/c', 'md/w', 'op', 'op/a', 'op/b', 'op/c', 'rd', 'rd/a',
  'hl1', 'hl2', 'sl', 'sd', 'x', 'y', 'q', 'q/x', 'q/y', 'q/q', 'q/q/x', 'md/x', 'md/q', 'md/q/x',
];

/** Small deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FILE_MODES = [0o644, 0o600, 0o755, 0o444, 0o640] as const;
const DIR_MODES = [0o755, 0o750, 0o700, 0o775] as const;
const LINK_TARGETS = ['ov', 'md', 'x', 'q/x', '../x', 'missing', 'sl', 'md/a'] as const;
/** Random part of the fixture, parents first. */
const RANDOM_PATHS = ['x', 'y', 'q', 'q/x', 'q/y', 'q/q', 'q/q/x', 'md/x', 'md/q', 'md/q/x'] as const;

/** Builds the logical fixture for `seed` with `nLayers` (>= 3) lower layers. */
export function makeFixtureSpec(seed: number, nLayers = 3): FixtureSpec {
  if (nLayers < 3) throw new RangeError('the fixture needs at least 3 lower layers');
  const rnd = prng(seed * 7919 + nLayers);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const time = (): number => pick(FIXTURE_TIMES);
  const content = (tag: string): string => {
    const n = Math.floor(rnd() * 24);
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(97 + Math.floor(rnd() * 26));
    return n === 0 ? '' : `${tag}:${s}`;
  };
  const file = (p: string, li: number): LayerEntry =>
    ({ kind: 'file', path: p, content: content(`L${li}/${p}`), mode: pick(FILE_MODES), mtime: time() });
  const dir = (p: string, opaque = false): LayerEntry =>
    ({ kind: 'dir', path: p, mode: pick(DIR_MODES), mtime: time(), opaque });
  const top = 0;
  const mid = 1;
  const bottom = nLayers - 1;
  const layers: LayerEntry[][] = Array.from({ length: nLayers }, () => []);
  const L = (i: number): LayerEntry[] => layers[i]!;

  // Forced features, present for every seed.
  L(bottom).push(file('wh', bottom));
  L(top).push({ kind: 'whiteout', path: 'wh' }); // a lower file hidden by a whiteout
  for (let i = 0; i < nLayers; i++) L(i).push(file('ov', i)); // one name in every layer
  for (let i = 0; i < nLayers; i++) L(i).push(dir('md')); // a directory merged from all layers
  L(top).push(file('md/a', top));
  L(mid).push(file('md/b', mid), { kind: 'whiteout', path: 'md/w' });
  L(bottom).push(file('md/b', bottom), file('md/c', bottom), file('md/w', bottom));
  L(mid).push(dir('op', true), file('op/c', mid)); // an opaque directory over a lower one
  L(bottom).push(dir('op'), file('op/a', bottom), file('op/b', bottom));
  L(mid).push(file('rd', mid)); // a directory replaced by a file in a higher layer
  L(bottom).push(dir('rd'), file('rd/a', bottom));
  L(bottom).push(file('hl1', bottom), { kind: 'hardlink', path: 'hl2', target: 'hl1' });
  L(mid).push({ kind: 'symlink', path: 'sl', target: 'ov', mtime: time() });
  L(bottom).push({ kind: 'symlink', path: 'sd', target: 'md', mtime: time() });

  // Seeded part: each layer independently gets something or nothing at each random path, bottom
  // layer first so that a whiteout goes only where the layers below make its directory merged.
  for (let li = bottom; li >= 0; li--) {
    const layer = L(li);
    const kindOf = (p: string): LayerEntry | undefined => layer.find((e) => e.path === p);
    for (const p of RANDOM_PATHS) {
      const parent = path.posix.dirname(p);
      const pe = parent === '.' ? undefined : kindOf(parent);
      if (parent !== '.' && pe?.kind !== 'dir') continue;
      const r = rnd();
      if (r < 0.3) continue;
      if (r < 0.5) layer.push(file(p, li));
      else if (r < 0.65) layer.push(dir(p, li !== bottom && rnd() < 0.3));
      else if (r < 0.75) {
        // '../' only below the root: a link out of the union is resolved differently by design.
        const targets = p.includes('/') ? LINK_TARGETS : LINK_TARGETS.filter((t) => !t.startsWith('../'));
        layer.push({ kind: 'symlink', path: p, target: pick(targets), mtime: time() });
      }
      else if (r < 0.9) {
        if (inMergedDir(layers.slice(li), p)) layer.push({ kind: 'whiteout', path: p });
        else layer.push(file(p, li));
      } else {
        const files = layer.filter((e) => e.kind === 'file' && e.path !== 'wh');
        layer.push(files.length > 0 ? { kind: 'hardlink', path: p, target: pick(files).path } : file(p, li));
      }
    }
  }
  const spec: FixtureSpec = { seed, layers };
  fixHiddenHardlinks(spec);
  return spec;
}

/**
 * Whether `p`'s directory is merged with a layer below `layers[0]`: the kernel filters whiteouts
 * only out of merged directories (a directory from one layer is listed as it is on disk, so a
 * whiteout there would show up in readdir while lookup hides it), and overlayfs itself never
 * writes a whiteout anywhere else. Fixtures keep to that.
 */
function inMergedDir(layers: LayerEntry[][], p: string): boolean {
  const parent = path.posix.dirname(p);
  if (parent === '.') return layers.length > 1;
  const m = mergeSpec({ seed: 0, layers }).get(parent);
  return m !== undefined && m.entry.kind === 'dir' && m.layer === 0 && (m.dirLayers?.length ?? 0) > 1;
}

/**
 * A lower hard-link group with a hidden member shows nlink 2 through overlayfs for a file that has
 * one visible name, which no plain directory can reproduce: such links become plain copies.
 */
function fixHiddenHardlinks(spec: FixtureSpec): void {
  for (;;) {
    const merged = mergeSpec(spec);
    let changed = false;
    spec.layers.forEach((layer, li) => {
      const groups = new Map<string, string[]>();
      for (const e of layer) {
        if (e.kind === 'hardlink') groups.get(e.target)?.push(e.path) ?? groups.set(e.target, [e.target, e.path]);
      }
      for (const [target, names] of groups) {
        const allVisible = names.every((n) => {
          const m = merged.get(n);
          return m !== undefined && m.layer === li;
        });
        if (allVisible) continue;
        const src = layer.find((e) => e.path === target);
        if (src?.kind !== 'file') continue;
        for (let i = 0; i < layer.length; i++) {
          const e = layer[i]!;
          if (e.kind === 'hardlink' && e.target === target) {
            layer[i] = { ...src, path: e.path };
            changed = true;
          }
        }
      }
    });
    if (!changed) return;
  }
}

/** One entry of the merged view: what it is and which layer supplies it. */
export interface MergedEntry {
  entry: Exclude<LayerEntry, { kind: 'whiteout' } | { kind: 'hardlink' }>;
  /** The layer index the entry (or, for a directory, its attributes) comes from. */
  layer: number;
  /** For a name that is a hard link: the path of the group's first name in that layer. */
  linkGroup?: string;
  /** For a directory: the layers whose directories it merges, topmost first. */
  dirLayers?: number[];
}

/**
 * The reference merge rule of overlayfs: top layer first; a whiteout hides the name below; a
 * non-directory hides everything below; a directory merges with directories below until an opaque
 * one (or a non-directory, or a whiteout) stops it. Returns merged paths → entry, parents first.
 */
export function mergeSpec(spec: FixtureSpec): Map<string, MergedEntry> {
  const idx = spec.layers.map((l) => new Map(l.map((e) => [e.path, e])));
  const out = new Map<string, MergedEntry>();
  const walk = (dir: string, contributing: number[]): void => {
    const names = new Set<string>();
    for (const li of contributing) {
      for (const e of spec.layers[li]!) {
        if (path.posix.dirname(e.path) === (dir === '' ? '.' : dir)) names.add(path.posix.basename(e.path));
      }
    }
    for (const name of [...names].sort()) {
      const p = dir === '' ? name : `${dir}/${name}`;
      const dirs: number[] = [];
      let found: MergedEntry | undefined;
      for (const li of contributing) {
        const e = idx[li]!.get(p);
        if (!e) continue;
        if (e.kind === 'whiteout') break;
        if (e.kind !== 'dir') {
          if (dirs.length === 0) {
            if (e.kind === 'hardlink') {
              const t = idx[li]!.get(e.target);
              if (t?.kind !== 'file') throw new Error(`bad hard link ${p} in layer ${li}`);
              found = { entry: t, layer: li, linkGroup: e.target };
            } else {
              const isTarget = spec.layers[li]!.some((o) => o.kind === 'hardlink' && o.target === p);
              found = isTarget ? { entry: e, layer: li, linkGroup: p } : { entry: e, layer: li };
            }
          }
          break;
        }
        dirs.push(li);
        if (e.opaque) break;
      }
      if (found) out.set(p, found);
      else if (dirs.length > 0) {
        const e = idx[dirs[0]!]!.get(p);
        if (e?.kind !== 'dir') throw new Error('unreachable');
        out.set(p, { entry: e, layer: dirs[0]!, dirLayers: dirs });
        walk(p, dirs);
      }
    }
  };
  walk('', spec.layers.map((_, i) => i));
  return out;
}

/** Deepest first, so that setting a directory's times comes after everything made inside it. */
function deepestFirst<T extends { path: string }>(xs: T[]): T[] {
  return [...xs].sort((a, b) => b.path.split('/').length - a.path.split('/').length);
}

async function setTimes(p: string, kind: string, mtime: number): Promise<void> {
  if (kind === 'symlink') await fsp.lutimes(p, mtime, mtime);
  else await fsp.utimes(p, mtime, mtime);
}

/** Writes one layer of `spec` into the (existing, empty) directory `dir` in whiteout `format`. */
export async function buildLayer(layer: LayerEntry[], format: WhiteoutFormatName, dir: string): Promise<void> {
  const abs = (p: string): string => path.join(dir, p);
  for (const e of layer) {
    switch (e.kind) {
      case 'file':
        await fsp.writeFile(abs(e.path), e.content);
        await fsp.chmod(abs(e.path), e.mode);
        break;
      case 'dir':
        await fsp.mkdir(abs(e.path));
        await fsp.chmod(abs(e.path), e.mode);
        if (e.opaque) {
          if (format === 'overlay') await run('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', abs(e.path)]);
          else await fsp.writeFile(path.join(abs(e.path), '.wh..wh..opq'), '');
        }
        break;
      case 'symlink':
        await fsp.symlink(e.target, abs(e.path));
        break;
      case 'hardlink':
        await fsp.link(abs(e.target), abs(e.path));
        break;
      case 'whiteout':
        if (format === 'overlay') await run('mknod', [abs(e.path), 'c', '0', '0']);
        else await fsp.writeFile(path.join(dir, path.dirname(e.path), `.wh.${path.basename(e.path)}`), '');
        break;
    }
  }
  for (const e of deepestFirst(layer)) {
    if (e.kind === 'file' || e.kind === 'dir' || e.kind === 'symlink') await setTimes(abs(e.path), e.kind, e.mtime);
  }
}

/** Writes the fixture's layers into `dirs` (dirs[0] = topmost, existing and empty) in `format`. */
export async function buildFixture(spec: FixtureSpec, format: WhiteoutFormatName, dirs: string[]): Promise<void> {
  if (dirs.length !== spec.layers.length) throw new RangeError(`need ${spec.layers.length} directories, got ${dirs.length}`);
  for (let i = 0; i < dirs.length; i++) await buildLayer(spec.layers[i]!, format, dirs[i]!);
}

/** Writes the already-merged tree of the fixture into the (existing, empty) plain directory `dir`. */
export async function buildMergedTree(spec: FixtureSpec, dir: string): Promise<void> {
  const merged = mergeSpec(spec);
  const written = new Map<string, string>(); // `${layer}:${linkGroup}` → first path written
  const abs = (p: string): string => path.join(dir, p);
  for (const [p, m] of merged) {
    const e = m.entry;
    if (e.kind === 'dir') {
      await fsp.mkdir(abs(p));
      await fsp.chmod(abs(p), e.mode);
    } else if (e.kind === 'symlink') {
      await fsp.symlink(e.target, abs(p));
    } else {
      const key = m.linkGroup === undefined ? undefined : `${m.layer}:${m.linkGroup}`;
      const first = key === undefined ? undefined : written.get(key);
      if (first !== undefined) await fsp.link(abs(first), abs(p));
      else {
        await fsp.writeFile(abs(p), e.content);
        await fsp.chmod(abs(p), e.mode);
        if (key !== undefined) written.set(key, p);
      }
    }
  }
  const all = [...merged].map(([p, m]) => ({ path: p, m }));
  for (const { path: p, m } of deepestFirst(all)) await setTimes(abs(p), m.entry.kind, m.entry.mtime);
}

/** Copies directories with everything (devices, xattrs, hard links, times): `cp -a`. */
export async function copyTree(src: string, dst: string): Promise<void> {
  await run('cp', ['-a', '--reflink=auto', `${src}/.`, dst]);
}

/**
 * Converts aufs-format layers to the kernel's overlay format in place: `.wh.NAME` becomes a 0/0
 * character device NAME, `.wh..wh..opq` becomes trusted.overlay.opaque="y" on its directory;
 * other `.wh..wh.*` aufs metadata is dropped. Times of changed directories are kept.
 */
export async function convertAufsToOverlayInPlace(dirs: string[]): Promise<void> {
  const convertDir = async (d: string): Promise<void> => {
    const st = await fsp.lstat(d);
    const ents = await fsp.readdir(d, { withFileTypes: true });
    let changed = false;
    for (const ent of ents) {
      const p = path.join(d, ent.name);
      if (ent.isDirectory()) await convertDir(p);
      if (!ent.name.startsWith('.wh.')) continue;
      changed = true;
      await fsp.rm(p, { recursive: true });
      if (ent.name === '.wh..wh..opq') await run('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', d]);
      else if (!ent.name.startsWith('.wh..wh.')) await run('mknod', [path.join(d, ent.name.slice(4)), 'c', '0', '0']);
    }
    if (changed) await fsp.utimes(d, st.atime, st.mtime);
  };
  for (const d of dirs) await convertDir(d);
}

/** Copies aufs-format layers `src[i]` into existing empty `dst[i]` and converts the copies to overlay format. */
export async function convertAufsToOverlay(src: string[], dst: string[]): Promise<void> {
  if (src.length !== dst.length) throw new RangeError('src and dst differ in length');
  for (let i = 0; i < src.length; i++) await copyTree(src[i]!, dst[i]!);
  await convertAufsToOverlayInPlace(dst);
}
