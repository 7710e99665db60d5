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

// The store of layers, images and containers, and its storage drivers.
export { Store } from './store/store.js';
export type { StoreOptions, CreateContainerOptions, RemoveImageResult } from './store/store.js';
export type { LayerRecord, ImageRecord, ContainerRecord } from './store/meta.js';
export { registerDriver, driverNames, availability, defaultDriverName } from './drivers/index.js';
export type { Driver, DriverCapabilities, DriverOptions, DriverFactory, Change, View } from './drivers/index.js';

// Images in and out of a store: OCI layouts and archives, docker-save archives, layer tarballs.
export { importFrom, loadImages, importLayerTarball, exportImage, saveImages } from './layers/image-transfer.js';
export type { ImportOptions, ImportResult, ExportOptions, ExportResult, TransferProgress } from './layers/image-transfer.js';

// Registries: pull into and push from a store (or an OCI layout directory).
export { pullImage, pushImage } from './registry/store-transfer.js';
export type { StorePullResult, StorePushResult } from './registry/store-transfer.js';
export { pull, push, parseReference, formatReference, RegistryError } from './registry/index.js';
export type { PullOptions, PullResult, PushOptions, PushResult, Reference, ProgressEvent } from './registry/index.js';
