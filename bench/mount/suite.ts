// Runs the mount-level suite: builds the data sets, finds which targets can mount here, then runs
// every benchmark on every target in turn, warm (one mount, an untimed run first) and cold (a fresh
// mount and dropped caches before every run); writes get a fresh mount (or a put-back plain dir) per run.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { buildMountData, FULL_MOUNT, QUICK_MOUNT, type MountData, type MountSizes } from './data.js';
import { benchTitle, MOUNT_BENCHES, type MountBench } from './benches.js';
import { mountTargets, type Mounted, type MountTarget } from './targets.js';
import { canDropCaches, dropCaches, must, timeCommand } from './proc.js';
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
    const why = await t.unavailable(probe);
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
      for (const t of targets) {
        if (!ctx.selected(key(b, variant, t))) continue;
        const base = { suite: 'mount' as const, bench: b.id, variant, title, target: t.id };
        const info = infos.find((i) => i.id === t.id)!;
        if (info.unavailable) {
          figures.push(naFigure(base, info.unavailable));
          continue;
        }
        if (variant === 'cold' && coldWhy) {
          figures.push(naFigure(base, coldWhy));
          continue;
        }
        const scratch = path.join(ctx.tmp, 'mounts', t.id);
        await fsp.mkdir(scratch, { recursive: true });
        try {
          const samples: number[] = [];
          let check: string | undefined;
          const cmd = b.cmd(data, sizes);
          if (b.kind === 'read' && variant === 'warm') {
            const m = await t.mount(stack, scratch);
            try {
              await sample(b, cmd, m.dir);
              check = await runCheck(b, m, data, sizes, t, row);
              for (let i = 0; i < sizes.warmRuns; i++) samples.push(await sample(b, cmd, m.dir));
            } finally {
              await m.unmount();
            }
          } else if (b.kind === 'read') {
            for (let i = 0; i < sizes.coldRuns; i++) {
              const m = await t.mount(stack, scratch);
              try {
                await dropCaches();
                samples.push(await sample(b, cmd, m.dir));
              } finally {
                await m.unmount();
              }
            }
          } else {
            for (let i = 0; i < sizes.writeRuns; i++) {
              const m = await t.mount(stack, scratch);
              try {
                if (b.warmup) await must(b.warmup, { cwd: m.dir, timeoutMs: 600_000 });
                samples.push(await sample(b, cmd, m.dir));
                if (i === 0) check = await runCheck(b, m, data, sizes, t, row);
              } finally {
                if (t.inPlace && b.reset) await must(b.reset(stack, sizes), { cwd: m.dir, timeoutMs: 600_000 });
                await m.unmount();
              }
            }
          }
          const s = summarize(samples);
          const f = okFigure({ ...base, method: b.parse ? 'fio' : 'process', per: b.parse ? 'op' : 'run' }, s, check ? { check } : {});
          figures.push(f);
          ctx.log(`mount: ${`${b.id}/${variant}`.padEnd(20)} ${t.id.padEnd(15)} ${(s.mean * (b.parse ? 1e6 : 1e3)).toFixed(b.parse ? 1 : 0).padStart(9)} ${b.parse ? 'µs/read' : 'ms'} ±${Number.isFinite(s.rme) ? s.rme.toFixed(1) : '?'}% (${s.samples} runs)${check ? ` CHECK: ${check}` : ''}`);
        } catch (e) {
          figures.push(naFigure(base, message(e), 'error'));
          ctx.log(`mount: ${b.id}/${variant} ${t.id}: error: ${message(e)}`);
        }
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
