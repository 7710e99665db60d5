// DirLayer.copyFileFrom, the data copy of a copy-up: a new file is made exclusively (no truncation
// first, see dir-layer.ts), an existing one (a metacopy completed in place) is overwritten; bytes
// and mode come through, and a missing source is ENOENT.
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { DirLayer } from '../../lib/layers/dir-layer.js';
import { cleanupTemps, tempDir } from '../helpers/tmp.js';

afterAll(cleanupTemps);

describe('DirLayer.copyFileFrom', () => {
  it('copies into a new file, and over an existing one', async () => {
    const [a, b] = await Promise.all([tempDir(), tempDir()]);
    const from = new DirLayer(a);
    const to = new DirLayer(b);
    const data = Buffer.alloc(3 << 20, 7);
    data.write('head');
    await fsp.writeFile(path.join(a, 'src'), data, { mode: 0o640 });
    await fsp.chmod(path.join(a, 'src'), 0o640);
    await to.copyFileFrom(from, 'src', 'new');
    expect(await fsp.readFile(path.join(b, 'new'))).toEqual(data);
    expect(fs.statSync(path.join(b, 'new')).mode & 0o777).toBe(0o640);
    await fsp.writeFile(path.join(b, 'old'), 'x'.repeat(5 << 20));
    await to.copyFileFrom(from, 'src', 'old');
    expect(await fsp.readFile(path.join(b, 'old'))).toEqual(data);
    await expect(to.copyFileFrom(from, 'missing', 'other')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
