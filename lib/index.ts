// The package's public entry: re-exports only.
export { UnionFs } from './union.js';
export type { DirentWithStats } from './union.js';
export type { UnionFileHandle } from './handles.js';
export { UfsError, isErrno } from './errors.js';
export { parseMountOptions } from './options.js';
export type { UnionOptions, VolumeSpec, ParsedMountOptions } from './options.js';
export type { Layer, LayerHandle, LayerDirent } from './layers/layer.js';
export type { WhiteoutFormatName } from './layers/whiteout.js';
export { DirLayer } from './layers/dir-layer.js';
export { MemLayer } from './layers/mem-layer.js';
