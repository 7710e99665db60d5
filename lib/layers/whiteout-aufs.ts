// The AUFS/OCI whiteout format: `.wh.<name>` empty files hide <name>, `.wh..wh..opq` makes its
// directory opaque. Needs no privileges and no xattrs; it is also the format of OCI layer tarballs.
import { constants } from 'node:fs';
import type { Layer, LayerDirent } from './layer.js';
import { AUFS_OPAQUE, AUFS_WH_PREFIX, UFS_XATTR_PREFIX, joinRel, type LayerDirInfo, type WhiteoutFormat } from './whiteout.js';
import { isErrno } from '../errors.js';

export const aufsFormat: WhiteoutFormat = {
  name: 'aufs',
  usesXattrs: false,

  async readDir(layer: Layer, rel: string): Promise<LayerDirInfo> {
    const list = await layer.readdir(rel);
    const entries = new Map<string, number>();
    const whiteouts = new Set<string>();
    let opaque = false;
    for (const e of list) {
      if (e.name.startsWith(AUFS_WH_PREFIX)) {
        if (e.name === AUFS_OPAQUE) opaque = true;
        else if (!e.name.startsWith(`${AUFS_WH_PREFIX}${AUFS_WH_PREFIX}`)) whiteouts.add(e.name.slice(AUFS_WH_PREFIX.length));
        // other `.wh..wh.*` names are aufs metadata (plinks, ...): hidden, meaning nothing here.
        continue;
      }
      entries.set(e.name, e.type);
    }
    return { entries, whiteouts, opaque, redirect: null };
  },

  isReservedName(name: string): boolean {
    return name.startsWith(AUFS_WH_PREFIX);
  },

  async isWhiteoutEntry(_layer: Layer, _rel: string, ent: LayerDirent): Promise<boolean> {
    return ent.name.startsWith(AUFS_WH_PREFIX);
  },

  async makeWhiteout(layer: Layer, dirRel: string, name: string): Promise<void> {
    const h = await layer.open(joinRel(dirRel, AUFS_WH_PREFIX + name), constants.O_CREAT | constants.O_WRONLY | constants.O_TRUNC, 0o444);
    await h.close();
  },

  async removeWhiteout(layer: Layer, dirRel: string, name: string): Promise<void> {
    try {
      await layer.unlink(joinRel(dirRel, AUFS_WH_PREFIX + name));
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
    }
  },

  async setOpaque(layer: Layer, dirRel: string): Promise<void> {
    const h = await layer.open(joinRel(dirRel, AUFS_OPAQUE), constants.O_CREAT | constants.O_WRONLY | constants.O_TRUNC, 0o444);
    await h.close();
  },

  isPrivateXattr(name: string): boolean {
    return name.startsWith(UFS_XATTR_PREFIX);
  },
};
