// Union options, parsed once for the API and the command line alike: the object form taken by
// UnionFs.open, and the `-o lowerdir=a:b,upperdir=u,workdir=w,...` string of mount(8) and ufsmount.
import type { Layer } from './layers/layer.js';
import type { WhiteoutFormatName } from './layers/whiteout.js';
import { fsError } from './errors.js';

/** A directory from the host mapped into the union at `path`, bypassing the layers (a volume). */
export interface VolumeSpec {
  hostdir: string;
  path: string;
  readonly?: boolean;
}

export interface UnionOptions {
  /** Lower layers, topmost first (like overlayfs' `lowerdir=top:...:bottom`), or that string. */
  lowerdir: Array<string | Layer> | string;
  /** The writable layer; without it the union is read-only. */
  upperdir?: string | Layer;
  /** Scratch directory on the upper layer's filesystem, for atomic copy-up (overlay format: required). */
  workdir?: string;
  /** Whiteout format; detected from the layers when not given. */
  whiteout?: WhiteoutFormatName;
  /** Refuse every change even with an upper layer. */
  readonly?: boolean;
  /** Host directories that bypass the layers. */
  volumes?: VolumeSpec[];
  /**
   * Metadata-only copy-up in the overlay format (like the kernel's metacopy=on): chmod, chown,
   * utimes and xattr changes on a lower file copy no data. A kernel reading such an upper layer must
   * be mounted with metacopy=on. Ignored for the aufs format. Default false.
   */
  metacopy?: boolean;
  /** Cap on cached directory entries (default 1,000,000). */
  cacheEntries?: number;
}

/** The result of parsing a mount option string: union options plus the options meant for others. */
export interface ParsedMountOptions {
  union: UnionOptions;
  /** Options that are not the union's (ro/rw aside), in order, e.g. allow_other, default_permissions. */
  other: string[];
  readonly: boolean;
}

/**
 * Splits a `lowerdir` value on ':' the way overlayfs does: `\:` and `\\` escape a colon or a
 * backslash inside a directory name.
 */
export function splitLowerdir(v: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === '\\' && i + 1 < v.length) {
      cur += v[++i];
    } else if (c === ':') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  if (out.some((d) => d === '')) throw fsError('EINVAL', 'mount', v, undefined, `empty directory in lowerdir=${v}`);
  return out;
}

/** Splits a comma-separated option string, honouring `\,` escapes. */
function splitOptions(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && s[i + 1] === ',') {
      cur += ',';
      i++;
    } else if (c === ',') {
      if (cur) out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (cur) out.push(cur);
  return out;
}

/** Parses `lowerdir=...,upperdir=...,workdir=...[,whiteout=overlay|aufs][,ro][,...]` (repeatable -o). */
export function parseMountOptions(optionStrings: string | string[]): ParsedMountOptions {
  const all = (Array.isArray(optionStrings) ? optionStrings : [optionStrings]).flatMap(splitOptions);
  let lowerdir: string[] | undefined;
  let upperdir: string | undefined;
  let workdir: string | undefined;
  let whiteout: WhiteoutFormatName | undefined;
  let readonly = false;
  let metacopy = false;
  const volumes: VolumeSpec[] = [];
  const other: string[] = [];
  for (const o of all) {
    const eq = o.indexOf('=');
    const key = eq < 0 ? o : o.slice(0, eq);
    const val = eq < 0 ? '' : o.slice(eq + 1);
    const need = (): string => {
      if (eq < 0 || val === '') throw fsError('EINVAL', 'mount', undefined, undefined, `option ${key} needs a value`);
      return val;
    };
    switch (key) {
      case 'lowerdir':
        lowerdir = splitLowerdir(need());
        break;
      case 'upperdir':
        upperdir = need();
        break;
      case 'workdir':
        workdir = need();
        break;
      case 'whiteout': {
        const v = need();
        if (v !== 'overlay' && v !== 'aufs') throw fsError('EINVAL', 'mount', undefined, undefined, `whiteout must be overlay or aufs, not ${v}`);
        whiteout = v;
        break;
      }
      case 'volume': {
        const v = need();
        const i = v.lastIndexOf(':');
        if (i <= 0 || !v.slice(i + 1).startsWith('/')) throw fsError('EINVAL', 'mount', undefined, undefined, `volume must be HOSTDIR:/path, not ${v}`);
        volumes.push({ hostdir: v.slice(0, i), path: v.slice(i + 1) });
        break;
      }
      case 'metacopy':
        if (val !== 'on' && val !== 'off') throw fsError('EINVAL', 'mount', undefined, undefined, `metacopy must be on or off, not ${val}`);
        metacopy = val === 'on';
        break;
      case 'ro':
        readonly = true;
        break;
      case 'rw':
        readonly = false;
        break;
      default:
        other.push(o);
    }
  }
  if (!lowerdir) throw fsError('EINVAL', 'mount', undefined, undefined, 'missing lowerdir= option');
  if (upperdir && !workdir) throw fsError('EINVAL', 'mount', undefined, undefined, 'upperdir= needs workdir= too');
  if (workdir && !upperdir) throw fsError('EINVAL', 'mount', undefined, undefined, 'workdir= needs upperdir= too');
  const union: UnionOptions = { lowerdir, readonly };
  if (upperdir) union.upperdir = upperdir;
  if (workdir) union.workdir = workdir;
  if (whiteout) union.whiteout = whiteout;
  if (metacopy) union.metacopy = true;
  if (volumes.length) union.volumes = volumes;
  return { union, other, readonly };
}
