// Pull/push scratch directories under <root>/tmp: `ufs check` leaves a live one alone (its process
// holds a flock in it) and reports, and with --repair removes, one whose process is gone.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs/promises';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { Store } from '../../lib/store/store.js';
import { openScratch } from '../../lib/store/scratch.js';
import { tmpdir } from './helpers.js';

const scratchModule = pathToFileURL(path.resolve('lib/store/scratch.ts')).href;

describe('store scratch directories', () => {
  let tmp: string;
  let st: Store;
  beforeAll(async () => {
    tmp = await tmpdir('scratch');
    st = await Store.open({ root: path.join(tmp, 'root'), driver: 'aufs' });
  });
  afterAll(async () => {
    await st.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  const scratchLeftovers = async (repair = false): Promise<string[]> =>
    (await st.check({ repair })).leftovers.filter((l) => l.kind === 'scratch').map((l) => path.basename(l.path));

  it('spares a live scratch, even under --repair, and removes it on close', async () => {
    const s = await openScratch(st.root, 'pull');
    await fs.writeFile(path.join(s.dir, 'blob'), 'x');
    expect(await scratchLeftovers(true)).toEqual([]);
    expect(await fs.readFile(path.join(s.dir, 'blob'), 'utf8')).toBe('x');
    await s.close();
    await expect(fs.stat(s.dir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it("reports and repairs the scratch of a killed process and a directory that is nobody's", async () => {
    const root = st.root;
    const script = `import { openScratch } from ${JSON.stringify(scratchModule)};
const s = await openScratch(${JSON.stringify(root)}, 'pull');
console.log(s.dir);
process.kill(process.pid, 'SIGKILL');`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.signal, r.stderr).toBe('SIGKILL');
    const dead = r.stdout.trim();
    expect((await fs.stat(dead)).isDirectory()).toBe(true);
    await fs.mkdir(path.join(root, 'tmp', 'push-1-cafe'));
    const live = await openScratch(root, 'push');
    expect((await scratchLeftovers()).sort()).toEqual([path.basename(dead), 'push-1-cafe'].sort());
    expect((await scratchLeftovers(true)).sort()).toEqual([path.basename(dead), 'push-1-cafe'].sort());
    await expect(fs.stat(dead)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await fs.stat(live.dir)).isDirectory()).toBe(true);
    await live.close();
    expect(await st.check()).toMatchObject({ ok: true });
  });
});
