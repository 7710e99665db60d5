// The drivers' one door to the tar modules (lib/layers/tar-apply.ts, tar-create.ts): a layer as a
// deterministic tar with `.wh.` whiteouts, and a tar applied into a layer in a whiteout format.
import type { Readable } from 'node:stream';
import type { Layer } from '../layers/layer.js';
import type { WhiteoutFormat } from '../layers/whiteout.js';
import { applyLayerTar } from '../layers/tar-apply.js';
import { createLayerTar } from '../layers/tar-create.js';

/** The changes a layer holds, as an uncompressed tar (same layer content, same bytes). */
export function layerToTar(layer: Layer, format: WhiteoutFormat): Readable {
  return createLayerTar(layer, format);
}

/** Applies an uncompressed layer tar into `layer`; the diffID is the sha256 of the stream as read. */
export async function tarToLayer(tar: Readable, layer: Layer, format: WhiteoutFormat): Promise<{ diffID: string; size: number }> {
  const r = await applyLayerTar(tar, layer, format);
  return { diffID: r.diffID, size: r.size };
}
