// The engine against the oracle: UnionFs and the kernel overlayfs (index=on,redirect_dir=on) run the
// same random operation sequences over the same fixture, in both whiteout formats, with equal results.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { WhiteoutFormatName } from './layers.js';
import { opsArb } from './ops.js';
import { kernelOverlaySupport, makeKernelTarget } from './kernel.js';
import { loadUnionEngine, makeUnionTarget, unionEngineExists, type UnionEngine } from './union-target.js';
import { runComparison } from './compare.js';
import { FixtureCache } from './fixtures.js';

const engineMissing = !unionEngineExists;
const support = await kernelOverlaySupport();
const skip = engineMissing || !support.ok;
const why = engineMissing
  ? ' (skipped: lib/union.ts does not exist yet)'
  : support.ok ? '' : ` (skipped: ${support.reason})`;
const SEEDS = 6;
/** Property runs per format; ORACLE_RUNS=2000 for a longer hunt by hand. */
const RUNS = Number(process.env.ORACLE_RUNS ?? 40);

let engine: UnionEngine | undefined;
beforeAll(async () => {
  // A missing engine skips; an engine that exists but does not load fails here, it is not skipped.
  if (!skip) engine = await loadUnionEngine();
});

const cache = new FixtureCache(3);
afterAll(() => cache.dispose());

const union = (seed: number, format: WhiteoutFormatName) => async () => {
  if (!engine) throw new Error('engine not loaded');
  return makeUnionTarget(engine, await cache.layers(seed, format), format);
};
/** The kernel only reads the overlay format: for aufs it mounts the converted copy of the same fixture. */
const kernel = (seed: number, format: WhiteoutFormatName) => async () =>
  makeKernelTarget(await cache.layers(seed, format === 'aufs' ? 'aufs-converted' : 'overlay'));

describe.each(['overlay', 'aufs'] as const)('UnionFs against the kernel overlayfs, %s whiteouts', (format) => {
  it.skipIf(skip)(`shows the kernel's merged tree of every fixture${why}`, async () => {
    for (let seed = 0; seed < SEEDS; seed++) {
      const r = await runComparison([{ op: 'readdir', path: '' }], union(seed, format), kernel(seed, format), { context: `${format} fixture seed ${seed}` });
      expect(r.outcomes).toHaveLength(1);
    }
  });

  it.skipIf(skip)(`property: random operation sequences give the kernel's outcomes and final tree${why}`, async () => {
    let steps = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: SEEDS - 1 }), opsArb(14), async (seed, ops) => {
        const r = await runComparison(ops, union(seed, format), kernel(seed, format), { context: `${format} fixture seed ${seed}` });
        steps += r.outcomes.length;
      }),
      { numRuns: RUNS },
    );
    expect(steps).toBeGreaterThan(RUNS);
  }, 60_000 + RUNS * 1_000);
});
