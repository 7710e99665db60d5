// Oracle hunt (a tool, not a test): runs many random sequences against the kernel and prints one
// counterexample per kind of difference, where a property test stops at the first.
// Usage (as root): npx tsx test/oracle/hunt.ts [union-overlay|union-aufs|plain] [runs=300] [maxOps=14]
import fc from 'fast-check';
import { opsArb, type OwnedTarget } from './ops.js';
import { kernelOverlaySupport, makeKernelTarget } from './kernel.js';
import { OracleMismatch, makeDirTarget, runComparison } from './compare.js';
import { FixtureCache } from './fixtures.js';
import { loadUnionEngine, makeUnionTarget } from './union-target.js';

const SEEDS = 6;

/** A class of differences: the op and both outcomes with paths blanked, or the differing tree field. */
function classify(e: OracleMismatch): string {
  const lines = e.message.split('\n');
  if (e.step === 'final tree') {
    const first = lines.find((l) => l.startsWith('  ')) ?? '';
    return `final tree: ${first.replace(/^\s*\S+: /, '').replace(/=[^ ]+/g, '=…')} ${first.match(/=\S+/g)?.join(' ') ?? ''}`;
  }
  const i = lines.findIndex((l) => / differs: /.test(l));
  const op = (lines[i] ?? '').replace(/^.* differs: /, '').replace(/"[^"]*"/g, 'P');
  const outs = lines.slice(i + 1, i + 3).map((l) => l.replace(/"[^"]*"/g, 'P').trim());
  return `${op} | ${outs.join(' | ')}`;
}

async function main(): Promise<void> {
  const [mode = 'union-overlay', runsArg = '300', maxOpsArg = '14'] = process.argv.slice(2);
  if (!['union-overlay', 'union-aufs', 'plain'].includes(mode)) throw new Error(`unknown mode ${mode}`);
  const support = await kernelOverlaySupport();
  if (!support.ok) throw new Error(`cannot run: ${support.reason}`);
  const cache = new FixtureCache(3);
  const engine = mode === 'plain' ? undefined : await loadUnionEngine();
  const format = mode === 'union-aufs' ? 'aufs' : 'overlay';
  const subject = (seed: number) => async (): Promise<OwnedTarget> =>
    engine
      ? makeUnionTarget(engine, await cache.layers(seed, format), format)
      : makeDirTarget('plain merged dir', (d) => cache.fillMerged(seed, d));
  const kernel = (seed: number) => async () =>
    makeKernelTarget(await cache.layers(seed, format === 'aufs' ? 'aufs-converted' : 'overlay'));

  const found = new Map<string, { count: number; example: string }>();
  const samples = fc.sample(fc.tuple(fc.integer({ min: 0, max: SEEDS - 1 }), opsArb(Number(maxOpsArg))), Number(runsArg));
  try {
    for (const [seed, ops] of samples) {
      try {
        await runComparison(ops, subject(seed), kernel(seed), { context: `${mode}, fixture seed ${seed}` });
      } catch (e) {
        if (!(e instanceof OracleMismatch)) throw e;
        const key = classify(e);
        const f = found.get(key);
        // Keep the shortest example of each class.
        if (!f) found.set(key, { count: 1, example: e.message });
        else {
          f.count++;
          if (e.message.length < f.example.length) f.example = e.message;
        }
      }
    }
  } finally {
    await cache.dispose();
  }
  console.log(`${samples.length} sequences, ${found.size} kinds of difference`);
  for (const [key, { count, example }] of [...found].sort((a, b) => b[1].count - a[1].count)) {
    console.log(`\n=== ${count}x ${key}\n${example}`);
  }
  process.exitCode = found.size === 0 ? 0 : 1;
}

await main();
