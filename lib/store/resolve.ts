// Finding things in the store's metadata by what users type: image names (repository[:tag]), image
// and layer IDs or unique prefixes of them, container names or ID prefixes. Errors say what to run.
import type { ContainerRecord, ImageRecord, LayerRecord, StoreMeta } from './meta.js';
import { idHex, looksLikeId, normalizeImageName } from './refs.js';
import { fsError } from '../errors.js';

function byPrefix<T>(items: T[], key: (t: T) => string, ref: string, what: string, hint: string): T | null {
  if (!looksLikeId(ref)) return null;
  const hex = idHex(ref);
  const hits = items.filter((t) => idHex(key(t)).startsWith(hex));
  if (hits.length > 1) throw fsError('EINVAL', 'lookup', ref, undefined, `${what} ID prefix '${ref}' is ambiguous (${hits.length} match); give more digits (${hint})`);
  return hits[0] ?? null;
}

export function findImage(m: StoreMeta, ref: string): ImageRecord | null {
  const images = Object.values(m.images);
  const exact = m.images[ref] ?? m.images[`sha256:${ref}`];
  if (exact) return exact;
  let name: string | null = null;
  try {
    name = normalizeImageName(ref);
  } catch {
    name = null;
  }
  if (name) {
    const tagged = images.find((i) => i.tags.includes(name!));
    if (tagged) return tagged;
  }
  return byPrefix(images, (i) => i.id, ref, 'image', "see 'ufs image ls --no-trunc'");
}

export function resolveImage(m: StoreMeta, ref: string): ImageRecord {
  const img = findImage(m, ref);
  if (!img) throw fsError('ENOENT', 'lookup', ref, undefined, `no such image: ${ref} (see 'ufs image ls')`);
  return img;
}

export function findLayer(m: StoreMeta, ref: string): LayerRecord | null {
  const exact = m.layers[ref] ?? m.layers[`sha256:${ref}`];
  if (exact) return exact;
  const layers = Object.values(m.layers);
  const byChain = byPrefix(layers, (l) => l.chainID, ref, 'layer', "see 'ufs layer ls --no-trunc'");
  if (byChain) return byChain;
  // A diffID names a layer too when only one layer has it (a base layer, usually).
  const hex = looksLikeId(ref) ? idHex(ref) : null;
  if (hex === null) return null;
  const byDiff = layers.filter((l) => idHex(l.diffID).startsWith(hex));
  if (byDiff.length > 1) throw fsError('EINVAL', 'lookup', ref, undefined, `diffID '${ref}' names ${byDiff.length} layers (one per parent); use the chainID ('ufs layer ls')`);
  return byDiff[0] ?? null;
}

export function resolveLayer(m: StoreMeta, ref: string): LayerRecord {
  const l = findLayer(m, ref);
  if (!l) throw fsError('ENOENT', 'lookup', ref, undefined, `no such layer: ${ref} (see 'ufs layer ls')`);
  return l;
}

export function findContainer(m: StoreMeta, ref: string): ContainerRecord | null {
  const all = Object.values(m.containers);
  const named = all.find((c) => c.name === ref);
  if (named) return named;
  return m.containers[ref] ?? byPrefix(all, (c) => c.id, ref, 'container', "see 'ufs container ls --no-trunc'");
}

export function resolveContainer(m: StoreMeta, ref: string): ContainerRecord {
  const c = findContainer(m, ref);
  if (!c) throw fsError('ENOENT', 'lookup', ref, undefined, `no such container: ${ref} (see 'ufs container ls')`);
  return c;
}

/** The layers of a chain, bottom first, ending at `top` (null: none). */
export function layerChain(m: StoreMeta, top: string | null): LayerRecord[] {
  const out: LayerRecord[] = [];
  for (let cur = top; cur !== null; ) {
    const l = m.layers[cur];
    if (!l) throw fsError('ENOENT', 'lookup', cur, undefined, `layer ${cur} is missing from the store; run 'ufs check'`);
    out.push(l);
    cur = l.parent;
  }
  return out.reverse();
}

/** Who uses a layer: images that list it, containers on it, layers on it. */
export function layerUsers(m: StoreMeta, chainID: string): { images: ImageRecord[]; containers: ContainerRecord[]; children: LayerRecord[] } {
  return {
    images: Object.values(m.images).filter((i) => i.layers.includes(chainID as never)),
    containers: Object.values(m.containers).filter((c) => c.parent === chainID),
    children: Object.values(m.layers).filter((l) => l.parent === chainID),
  };
}
