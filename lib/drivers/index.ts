// The storage drivers: importing this module registers every built-in driver (overlay, aufs, vfs,
// memory) and re-exports the driver interface and registry.
import './overlay.js';
import './aufs.js';
import './vfs.js';
import './memory.js';

export type { Driver, DriverCapabilities, DriverOptions, Change, CreateOpts, GetOpts, View, StatusPair, ApplyResult } from './driver.js';
export { registerDriver, driverFactory, driverNames, availability, defaultDriverName, openDriver, type DriverFactory, type DriverAvailability } from './registry.js';
export { OverlayDriver } from './overlay.js';
export { AufsDriver } from './aufs.js';
export { VfsDriver } from './vfs.js';
export { MemoryDriver } from './memory.js';
export { compareTrees, changesOfChangeset } from './naive-diff.js';
