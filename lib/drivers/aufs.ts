// The aufs driver: layers are directories with `.wh.` whiteout files and `.wh..wh..opq` opaque
// markers (the OCI tar format on disk); needs no privileges and no native addon.
import fsp from 'node:fs/promises';
import { LayeredDriver } from './layered.js';
import { nearestExisting, registerDriver } from './registry.js';
import { aufsFormat } from '../layers/whiteout-aufs.js';

export class AufsDriver extends LayeredDriver {
  readonly name = 'aufs';
  readonly format = aufsFormat;
}

registerDriver({
  name: 'aufs',
  description: "changeset directories with '.wh.' whiteouts; ufs views; no privileges or native addon needed",
  priority: 20,
  persistent: true,
  async available(home) {
    const at = await nearestExisting(home);
    try {
      await fsp.access(at, fsp.constants.W_OK);
    } catch {
      return `cannot write to ${at}`;
    }
    return null;
  },
  async open(home) {
    return new AufsDriver(home).init();
  },
});
