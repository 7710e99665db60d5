// A child process for the store tests: performs one store operation (possibly killed on the way by
// UFS_CRASH_AT or by the test), so that two processes and crashes can be tested for real.
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Store } from '../../lib/store/store.js';
import { importFrom } from '../../lib/layers/image-transfer.js';

const [op, root, ...args] = process.argv.slice(2);

async function dirWith(dir: string, files: Record<string, string>): Promise<string> {
  for (const [p, v] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, p)), { recursive: true });
    await fs.writeFile(path.join(dir, p), v);
  }
  return dir;
}

const st = await Store.open({ root: root! });
try {
  switch (op) {
    case 'images': {
      // images PREFIX N SCRATCH: N layers and images, one after the other.
      const [prefix, n, scratch] = args as [string, string, string];
      for (let i = 0; i < Number(n); i++) {
        const dir = await dirWith(path.join(scratch, `${prefix}-${i}`), { [`${prefix}/${i}`]: `${prefix} ${i}`, shared: 'same in every layer' });
        const l = await st.createLayerFromDir(dir);
        await st.createImage(`${prefix}:${i}`, [l.chainID]);
        const c = await st.createContainer(`${prefix}:${i}`, { name: `${prefix}-c${i}` });
        if (i % 2 === 1) await st.removeContainer(c.id);
      }
      break;
    }
    case 'layer': {
      const l = await st.createLayerFromDir(args[0]!);
      process.stdout.write(l.chainID);
      break;
    }
    case 'tarball': {
      const l = await st.createLayer(null, createReadStream(args[0]!));
      process.stdout.write(l.chainID);
      break;
    }
    case 'image': {
      const l = await st.createLayerFromDir(args[0]!);
      await st.createImage(args[1]!, [l.chainID]);
      break;
    }
    case 'import': {
      // import LAYOUT TAG: one image of an OCI layout, its layers applied several at a time.
      const r = await importFrom(st, args[0]!, { tags: [args[1]!] });
      process.stdout.write(JSON.stringify({ id: r.image.id, imported: r.layersImported, reused: r.layersReused }));
      break;
    }
    case 'container':
      await st.createContainer(args[0]!, { name: args[1]! });
      break;
    case 'rm-container':
      await st.removeContainer(args[0]!);
      break;
    case 'commit':
      await st.commit(args[0]!, args[1]!);
      break;
    case 'migrate':
      await st.migrate(args[0]!);
      break;
    default:
      throw new Error(`unknown op ${op}`);
  }
} finally {
  await st.close();
}
