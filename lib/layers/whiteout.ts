// The whiteout-format interface: how a layer records deletions (whiteouts) and opaque directories.
// One module per format implements it (whiteout-overlay.ts, whiteout-aufs.ts); everything else asks it.
import type { Layer, LayerDirent } from './layer.js';

export type WhiteoutFormatName = 'overlay' | 'aufs';

/** What one layer's directory says, read through a whiteout format. */
export interface LayerDirInfo {
  /** Visible entries of this layer's directory (whiteouts and markers removed), name → S_IF* type. */
  entries: Map<string, number>;
  /** Names this directory whites out (hides in every layer below). */
  whiteouts: Set<string>;
  /** Whether the directory is opaque (hides everything below it). */
  opaque: boolean;
  /** For a renamed directory (overlay redirect): the union path whose lower content it carries. */
  redirect: string | null;
}

export interface WhiteoutFormat {
  readonly name: WhiteoutFormatName;
  /** Reads one directory of one layer. Rejects with ENOENT/ENOTDIR like readdir. */
  readDir(layer: Layer, rel: string): Promise<LayerDirInfo>;
  /** Whether a user may create an entry with this name (aufs reserves `.wh.` names). */
  isReservedName(name: string): boolean;
  /** Whether the single entry at `rel` is a whiteout (used where a full listing is not needed). */
  isWhiteoutEntry(layer: Layer, rel: string, ent: LayerDirent): Promise<boolean>;
  /** Makes `name` in layer directory `dirRel` a whiteout; the name must not exist in the layer. */
  makeWhiteout(layer: Layer, dirRel: string, name: string): Promise<void>;
  /** Removes the whiteout of `name` (so that a new entry can take the name). Missing is fine. */
  removeWhiteout(layer: Layer, dirRel: string, name: string): Promise<void>;
  /** Marks the layer directory opaque. */
  setOpaque(layer: Layer, dirRel: string): Promise<void>;
  /** Whether the format can store xattrs-based metadata (overlay) or only names (aufs). */
  readonly usesXattrs: boolean;
  /** Names of the xattrs this format keeps for itself (hidden from listxattr through the union). */
  isPrivateXattr(name: string): boolean;
}

export const AUFS_WH_PREFIX = '.wh.';
export const AUFS_OPAQUE = '.wh..wh..opq';
/** The xattr name prefix of overlay metadata: trusted.overlay. as root, user.overlay. otherwise. */
export const OVERLAY_XATTR_PREFIXES = ['trusted.overlay.', 'user.overlay.'] as const;
/** ufs's own bookkeeping xattrs (origin inode numbers), never shown through the union. */
export const UFS_XATTR_PREFIX = 'user.ufs.';

export function joinRel(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}
