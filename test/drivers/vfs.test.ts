// The vfs driver runs the shared driver conformance suite.
import { driverSuite } from '../conformance/driver-suite.js';

driverSuite('vfs');
