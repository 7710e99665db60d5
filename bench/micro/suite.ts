// Runs the in-process suite: builds the data, opens every available target on the stacks the
// selected benchmarks need, then times each benchmark on every target in turn (so a change in the
// machine's load falls on all targets of a row alike).
import { execFileSync } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { buildMicroData, FULL_SIZES, QUICK_SIZES, type Stack } from './data.js';
import { microBenches, type MicroBench } from './benches.js';
import { microTargets, type MicroTarget, type MicroView } from './targets.js';
import { benchmarkJs, timedLoop, type BjsOptions, type Timed } from '../lib/timing.js';
import { naFigure, okFigure, type Figure, type TargetInfo } from '../lib/results.js';
import type { SuiteContext, SuiteOutput } from '../lib/suite.js';
import { pairedDepthStat } from './paired.js';

/** One short line for an error: a Node-shaped error's code and syscall (its paths are long temp paths). */
function message(e: unknown): string {
  const err = e as { code?: unknown; syscall?: unknown; message?: unknown };
  if (typeof err?.code === 'string' && typeof err.syscall === 'string') return `${err.code} from ${err.syscall}`;
  return (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? String(e);
}

export async function runMicro(ctx: SuiteContext): Promise<SuiteOutput> {
  const sizes = ctx.quick ? QUICK_SIZES : FULL_SIZES;
  const bjs: BjsOptions = ctx.quick ? { maxTime: 0.1, minSamples: 5, minTime: 0.01 } : { maxTime: 2, minSamples: 20, minTime: 0 };
  const targets = microTargets();
  const benches = microBenches(sizes.depths);
  const wanted = (b: MicroBench, t: MicroTarget): boolean => ctx.selected(`micro/${b.id}/${t.id}`);
  const liveBenches = benches.filter((b) => targets.some((t) => wanted(b, t)));
  if (liveBenches.length === 0) return { figures: [], targets: [], datasets: {} };

  const base = ctx.tmp;
  const depths = [...new Set(liveBenches.flatMap((b) => (typeof b.stack === 'number' ? [b.stack] : [])))];
  ctx.log(`micro: building data sets (stacks ${depths.join('/')} and work) in ${base}`);
  const needWork = liveBenches.some((b) => b.stack === 'work');
  const data = await buildMicroData(path.join(base, 'data'), sizes, depths, needWork);
  // Nothing of the data set's writing may be left for the benchmarks to pay for.
  execFileSync('sync');
  const stackOf = (b: MicroBench): Stack => (b.stack === 'work' ? data.work : data.lookup.get(b.stack)!);

  const infos: TargetInfo[] = [];
  const views = new Map<string, Map<string, MicroView>>();
  const broken = new Map<string, string>();
  for (const t of targets) {
    if (!liveBenches.some((b) => wanted(b, t))) continue;
    const why = await t.unavailable(base);
    infos.push({ suite: 'micro', id: t.id, label: t.label, role: t.role, unavailable: why });
    if (why) {
      ctx.log(`micro: ${t.id}: n/a: ${why}`);
      continue;
    }
    const m = new Map<string, MicroView>();
    views.set(t.id, m);
    const stacks = new Set(liveBenches.filter((b) => wanted(b, t)).map(stackOf));
    const started = Date.now();
    for (const s of stacks) {
      const skip = ctx.quick ? t.quickSkip?.(s) : null;
      if (skip) {
        broken.set(`${t.id}/${s.name}`, skip);
        continue;
      }
      try {
        m.set(s.name, await t.open(s, path.join(base, 'targets', t.id, s.name)));
      } catch (e) {
        broken.set(`${t.id}/${s.name}`, `cannot open the ${s.name} stack: ${message(e)}`);
      }
    }
    ctx.log(`micro: ${t.id}: opened ${m.size} stack(s) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  const figures: Figure[] = [];
  for (const b of liveBenches) {
    for (const t of targets) {
      if (!wanted(b, t)) continue;
      const base = { suite: 'micro' as const, bench: b.id, title: b.title, target: t.id };
      const info = infos.find((i) => i.id === t.id)!;
      if (info.unavailable) {
        figures.push(naFigure(base, info.unavailable));
        continue;
      }
      const stack = stackOf(b);
      const v = views.get(t.id)?.get(stack.name);
      if (!v) {
        const why = broken.get(`${t.id}/${stack.name}`) ?? 'not opened';
        figures.push(naFigure(base, why, why.startsWith('quick mode') ? 'n/a' : 'error'));
        continue;
      }
      try {
        let timed: Timed;
        if (b.kind === 'repeat') {
          const c = await b.prepare!(v, data);
          try {
            timed = await benchmarkJs(`${b.id}/${t.id}`, c.op, bjs);
          } finally {
            await c.teardown?.();
          }
        } else {
          const floor = t.role === 'floor';
          timed = await timedLoop(b.items!(sizes), (i) => b.loopOp!(v, i, floor));
          await b.verify?.(v, data);
        }
        const f = okFigure({ ...base, method: b.kind === 'repeat' ? 'benchmark.js' : 'loop', per: 'op' }, timed.summary, { ops: timed.ops });
        figures.push(f);
        ctx.log(`micro: ${b.id.padEnd(16)} ${t.id.padEnd(22)} ${(f.mean! * 1e6).toFixed(2).padStart(12)} µs ±${f.rme!.toFixed(1)}% (${f.runs} samples)`);
      } catch (e) {
        figures.push(naFigure(base, message(e), 'error'));
        ctx.log(`micro: ${b.id} ${t.id}: error: ${message(e)}`);
      }
    }
  }

  figures.push(...(await pairedFigures(ctx, targets, views, data.lookup, wanted, liveBenches)));

  for (const m of views.values()) for (const v of m.values()) await v.close().catch(() => undefined);
  for (const t of targets) await t.dispose().catch(() => undefined);
  if (!ctx.keep) await fsp.rm(base, { recursive: true, force: true });
  return { figures, targets: infos, datasets: { micro: { ...sizes, depths } } };
}

/**
 * The depth goal's figures: for every ufs target that has both stat-d20 and stat-d100 selected, the
 * two depths timed alternately (paired.ts), as rows `stat-d20-paired` and `stat-d100-paired`.
 */
async function pairedFigures(
  ctx: SuiteContext,
  targets: MicroTarget[],
  views: Map<string, Map<string, MicroView>>,
  lookup: Map<number, Stack>,
  wanted: (b: MicroBench, t: MicroTarget) => boolean,
  live: MicroBench[],
): Promise<Figure[]> {
  const shallow = lookup.get(20);
  const deep = lookup.get(100);
  const b20 = live.find((b) => b.id === 'stat-d20');
  const b100 = live.find((b) => b.id === 'stat-d100');
  if (!shallow || !deep || !b20 || !b100) return [];
  const out: Figure[] = [];
  const [rounds, batch] = ctx.quick ? [6, 500] : [40, 5000];
  for (const t of targets) {
    if (t.role !== 'subject' || !wanted(b20, t) || !wanted(b100, t)) continue;
    const vs = views.get(t.id)?.get(shallow.name);
    const vd = views.get(t.id)?.get(deep.name);
    if (!vs || !vd) continue;
    const title = (d: number): string => `stat of a bottom-layer file, ${d}-layer stack, timed alternately with the ${d === 20 ? 100 : 20}-layer one`;
    try {
      const r = await pairedDepthStat(vs, vd, rounds, batch);
      for (const [d, s] of [[20, r.shallow], [100, r.deep]] as const) {
        out.push(okFigure({ suite: 'micro', bench: `stat-d${d}-paired`, title: title(d), target: t.id, method: 'loop', per: 'op' }, s, { ops: r.ops }));
      }
      ctx.log(`micro: stat depth 100 vs 20, alternating ${t.id.padEnd(14)} ${(r.shallow.mean * 1e6).toFixed(2)} µs / ${(r.deep.mean * 1e6).toFixed(2)} µs`);
    } catch (e) {
      for (const d of [20, 100]) out.push(naFigure({ suite: 'micro', bench: `stat-d${d}-paired`, title: title(d), target: t.id }, message(e), 'error'));
    }
  }
  return out;
}
