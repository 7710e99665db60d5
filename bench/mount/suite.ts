// Runs the mount-level suite: builds the data sets, finds which targets can mount here, then runs
// every benchmark on every target, warm (a few mounts per target, an untimed run on each first) and
// cold (a fresh mount and dropped caches before every run), the targets taking turns run by run; writes get a fresh
// mount (or a put-back plain dir) per run, also in turns, and start with nothing left to write back.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { buildMountData, FULL_MOUNT, QUICK_MOUNT, type MountData, type MountSizes } from './data.js';
import { benchTitle, MOUNT_BENCHES, type MountBench } from './benches.js';
import { mountTargets, type Mounted, type MountTarget } from './targets.js';
import { canDropCaches, dropCaches, must, timeCommand } from './proc.js';
import { readReportedKib, settle } from './settle.js';
import { roundOrder } from './order.js';
import { naFigure, okFigure, type Figure, type TargetInfo } from '../lib/results.js';
import { summarize } from '../lib/stats.js';
import type { SuiteContext, SuiteOutput } from '../lib/suite.js';

type Variant = 'warm' | 'cold';

function message(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? String(e);
}

/** One sample: the command's wall time, or what `parse` reads from its output. */
async function sample(b: MountBench, cmd: string, dir: string): Promise<number> {
  if (!b.parse) return timeCommand(cmd, dir);
  const out = await must(cmd, { cwd: dir, timeoutMs: 600_000 });
  return b.parse(out);
}

/** One target's share of a row: its samples so far, its check, the error that ended its runs. */
interface TargetRun {
  t: MountTarget;
  base: { suite: 'mount'; bench: string; variant: Variant; title: string; target: string };
  scratch: string;
  samples: number[];
  check?: string;
  error?: string;
}

interface RowState {
  /** The plain directory's check output, which every other target's must equal. */
  floorCheck: string | null;
}

async function runCheck(b: MountBench, m: Mounted, d: MountData, s: MountSizes, t: MountTarget, row: RowState): Promise<string | undefined> {
  if (!b.check) return undefined;
  const out = (await must(b.check(d, s), { cwd: m.dir, timeoutMs: 600_000 })).trim();
  if (t.role === 'floor') {
    row.floorCheck = out;
    return undefined;
  }
  if (row.floorCheck === null) return undefined;
  return out === row.floorCheck ? undefined : `check failed: \`${b.check(d, s)}\` printed ${JSON.stringify(out.slice(0, 80))}, the plain directory ${JSON.stringify(row.floorCheck.slice(0, 80))}`;
}

export async function runMount(ctx: SuiteContext): Promise<SuiteOutput> {
  const sizes = ctx.quick ? QUICK_MOUNT : FULL_MOUNT;
  const targets = mountTargets(ctx.repo);
  const key = (b: MountBench, v: Variant, t: MountTarget): string => `mount/${b.id}/${v}/${t.id}`;
  const live = MOUNT_BENCHES.filter((b) => b.variants.some((v) => targets.some((t) => ctx.selected(key(b, v, t)))));
  if (!live.length) return { figures: [], targets: [], datasets: {} };

  const notes: string[] = [];
  const infos: TargetInfo[] = [];
  const probe = path.join(ctx.tmp, 'probe');
  for (const t of targets) {
    if (!live.some((b) => b.variants.some((v) => ctx.selected(key(b, v, t))))) continue;
    // The quick mode leaves out the high-level binding (slowest in every row), to stay short.
    const why = ctx.quick && t.id === 'ufsmount-hl' ? 'the quick mode leaves it out (the full mode runs it)' : await t.unavailable(probe);
    infos.push({ suite: 'mount', id: t.id, label: t.label, role: t.role, unavailable: why });
    ctx.log(`mount: ${t.id}: ${why ? `n/a: ${why}` : 'can mount'}`);
  }
  const coldWhy = await canDropCaches();
  if (coldWhy) notes.push(`cold figures are n/a: ${coldWhy}`);

  const stacks = new Set(live.map((b) => b.stack));
  const started = Date.now();
  ctx.log(`mount: building data sets (${[...stacks].join(', ')}) in ${ctx.tmp}`);
  const data = await buildMountData(path.join(ctx.tmp, 'data'), sizes, stacks);
  await must('sync');
  ctx.log(`mount: data sets built in ${((Date.now() - started) / 1000).toFixed(0)} s`);

  const figures: Figure[] = [];
  for (const b of live) {
    const stack = data.stacks.get(b.stack)!;
    const title = benchTitle(b, sizes);
    for (const variant of b.variants) {
      const row: RowState = { floorCheck: null };
      const cmd = b.cmd(data, sizes);
      const runs: TargetRun[] = [];
      for (const t of targets) {
        if (!ctx.selected(key(b, variant, t))) continue;
        const base = { suite: 'mount' as const, bench: b.id, variant, title, target: t.id };
        const info = infos.find((i) => i.id === t.id)!;
        if (info.unavailable) figures.push(naFigure(base, info.unavailable));
        else if (variant === 'cold' && coldWhy) figures.push(naFigure(base, coldWhy));
        else runs.push({ t, base, scratch: path.join(ctx.tmp, 'mounts', t.id), samples: [] });
      }
      for (const r of runs) await fsp.mkdir(r.scratch, { recursive: true });
      const attempt = async (r: TargetRun, fn: () => Promise<void>): Promise<void> => {
        if (r.error !== undefined) return;
        try {
          await fn();
        } catch (e) {
          r.error = message(e);
        }
      };
      if (b.kind === 'read' && variant === 'warm') {
        // Every target mounted at once, an untimed run on each first; then the targets take turns
        // run by run, as in cold rows: a warm run never waits for a disk, so what moves its figure is
        // the machine's speed at the moment (a virtual CPU's), which then falls on every target alike.
        // And the runs are spread over several mounts: how fast a page-cache read is differs from one
        // mount to the next by up to 1.8x (which memory the kernel gave that mount's cached pages),
        // steadily for as long as the mount lives.
        const perMount = Math.ceil(sizes.warmRuns / sizes.warmMounts);
        for (let round = 0; round * perMount < sizes.warmRuns; round++) {
          const mounted = new Map<TargetRun, Mounted>();
          try {
            for (const r of runs) {
              await attempt(r, async () => {
                const m = await r.t.mount(stack, r.scratch);
                mounted.set(r, m);
                await sample(b, cmd, m.dir);
                if (round === 0) r.check = await runCheck(b, m, data, sizes, r.t, row);
              });
            }
            for (let i = 0; i < perMount && round * perMount + i < sizes.warmRuns; i++) {
              for (const r of runs) {
                const m = mounted.get(r);
                if (m) await attempt(r, async () => void r.samples.push(await sample(b, cmd, m.dir)));
              }
            }
          } finally {
            for (const [r, m] of mounted) {
              try {
                await m.unmount();
              } catch (e) {
                r.error ??= message(e);
              }
            }
          }
        }
      } else {
        // A fresh mount per run, the targets taking turns run by run, so that a change in the
        // machine's speed over the minutes a row takes (a virtual disk's, writeback's) falls on
        // every target alike instead of on whichever ran last.
        // A cold row starts with one untimed round: the first reads of data a row has not read yet
        // are the virtual disk's own first (its host's cache), 2-5x slower, and would fall on the
        // first target alone. The order changes from round to round (order.ts), so that no target
        // always runs right after the same other one (whose freed memory, written-back pages it inherits).
        const count = b.kind === 'read' ? sizes.coldRuns : sizes.writeRuns;
        // (The quick mode has no untimed round: its figures are for development.)
        for (let i = b.kind === 'read' && !ctx.quick ? -1 : 0; i < count; i++) {
          for (const r of roundOrder(i, runs.length).map((j) => runs[j]!)) {
            await attempt(r, async () => {
              const m = await r.t.mount(stack, r.scratch);
              try {
                if (b.kind === 'read') {
                  await dropCaches();
                  if (b.coldSettle) await settle(readReportedKib, sizes.coldSettle);
                  const x = await sample(b, cmd, m.dir);
                  if (i >= 0) r.samples.push(x);
                  return;
                }
                if (b.warmup) await must(b.warmup, { cwd: m.dir, timeoutMs: 600_000 });
                // Untimed: earlier runs' dirty pages (a copied-up GiB each) are written back now, not
                // during this run; a target that fsyncs its copy-up pays for it, one that does not, not.
                await must('sync', { timeoutMs: 600_000 });
                r.samples.push(await sample(b, cmd, m.dir));
                if (i === 0) r.check = await runCheck(b, m, data, sizes, r.t, row);
              } finally {
                if (r.t.inPlace && b.reset) await must(b.reset(stack, sizes), { cwd: m.dir, timeoutMs: 600_000 });
                await m.unmount();
              }
            });
          }
        }
      }
      for (const r of runs) {
        if (r.error !== undefined) {
          figures.push(naFigure(r.base, r.error, 'error'));
          ctx.log(`mount: ${b.id}/${variant} ${r.t.id}: error: ${r.error}`);
          continue;
        }
        const st = summarize(r.samples);
        figures.push(okFigure({ ...r.base, method: b.parse ? 'fio' : 'process', per: b.parse ? 'op' : 'run' }, st, { values: r.samples, ...(r.check ? { check: r.check } : {}) }));
        ctx.log(`mount: ${`${b.id}/${variant}`.padEnd(20)} ${r.t.id.padEnd(15)} ${(st.median * (b.parse ? 1e6 : 1e3)).toFixed(b.parse ? 1 : 0).padStart(9)} ${b.parse ? 'µs/read' : 'ms'} median (${st.samples} runs: ${r.samples.map((x) => (x * (b.parse ? 1e6 : 1e3)).toFixed(b.parse ? 1 : 0)).join(' ')})${r.check ? ` CHECK: ${r.check}` : ''}`);
      }
    }
  }
  for (const t of targets) for (const f of t.facts?.() ?? []) notes.push(f);
  if (!ctx.keep) await fsp.rm(ctx.tmp, { recursive: true, force: true }).catch(() => undefined);
  return {
    figures,
    targets: infos,
    datasets: { mount: { ...sizes, ...(data.rootfs ? { rootfs: data.rootfs } : {}) } },
    notes,
  };
}
