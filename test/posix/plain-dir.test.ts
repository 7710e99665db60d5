// Runs the shared POSIX suite on a plain temp directory through node:fs/promises: the reference
// every other target (UnionFs, the FUSE mount) is held to.
import { definePosixSuite } from './suite.js';
import { plainDirTarget } from './node-target.js';

definePosixSuite('POSIX suite on a plain directory', plainDirTarget);
