// The overlay driver runs the shared driver conformance suite: with ufs views, and (as root, on a
// kernel with overlayfs) with real kernel overlay mounts of the same layers.
import { driverSuite } from '../conformance/driver-suite.js';
import { native } from '../../lib/native.js';

const isRoot = process.getuid?.() === 0;
driverSuite('overlay', { skip: native() ? (isRoot ? null : 'needs root for 0/0 whiteouts') : 'needs the native addon' });
driverSuite('overlay', { driverOptions: { kernelMount: true }, skip: native() && isRoot ? null : 'kernel mounts need root and the native addon' });
