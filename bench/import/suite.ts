// Runs the import suite: builds one OCI image (data.ts), then unpacks it with every target into a
// fresh output, one untimed warm-up run whose output is checked, then timed whole runs (warm page
// cache; outputs removed and `sync`ed between runs). A failed check makes the figure an error.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { buildImportImage, imageKind, type ImportImage } from './data.js';
import { importTargets, removeOutput, type ImportTarget } from './targets.js';
import { naFigure, okFigure, type Figure, type TargetInfo } from '../lib/results.js';
import { summarize } from '../lib/stats.js';
import { must } from '../mount/proc.js';
import type { SuiteContext, SuiteOutput } from '../lib/suite.js';

export interface ImportSizes {
  /** Timed runs per target (after one untimed warm-up run). */
  runs: number;
}

export const QUICK_IMPORT: ImportSizes = { runs: 1 };
export const FULL_IMPORT: ImportSizes = { runs: 8 };
/** The tiny synthetic image (UFS_BENCH_IMPORT_TINY=1): the pipeline, not the speed. */
export const TINY_IMPORT: ImportSizes = { runs: 2 };

function message(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? String(e);
}

function mib(n: number): string {
  return `${(n / (1 << 20)).toFixed(n < 10 << 20 ? 2 : 0)} MiB`;
}

export function importTitle(img: ImportImage): string {
  const what = img.kind === 'rootfs' ? 'Debian root filesystem' : 'tiny synthetic tree';
  return `import a ${img.info.layers}-layer gzip OCI image (${what}: ${img.info.entries} entries, ${mib(img.info.fileBytes)} of files, ${mib(img.info.gzipBytes)} gzip) into a fresh directory or store`;
}

async function measure(t: ImportTarget, img: ImportImage, scratch: string, runs: number): Promise<{ samples: number[]; check: string | null }> {
  let n = 0;
  const out = (): string => path.join(scratch, `${t.id}-${++n}`);
  // The warm-up run: reads the layout into the page cache, and its output is checked.
  const first = out();
  let check: string | null;
  try {
    await t.run(img, first);
    check = await t.check(img, first);
  } finally {
    await removeOutput(first);
  }
  const samples: number[] = [];
  if (check) return { samples, check };
  for (let i = 0; i < runs; i++) {
    const o = out();
    try {
      samples.push(await t.run(img, o));
    } finally {
      await removeOutput(o);
    }
  }
  return { samples, check };
}

export async function runImport(ctx: SuiteContext): Promise<SuiteOutput> {
  const kind = imageKind();
  const sizes = kind === 'tiny' ? TINY_IMPORT : ctx.quick ? QUICK_IMPORT : FULL_IMPORT;
  const bench = kind;
  const key = (t: ImportTarget): string => `import/${bench}/${t.id}`;
  const targets = importTargets().filter((t) => ctx.selected(key(t)));
  if (!targets.length) return { figures: [], targets: [], datasets: {} };

  const infos: TargetInfo[] = [];
  const probe = path.join(ctx.tmp, 'probe');
  await fsp.mkdir(probe, { recursive: true });
  for (const t of targets) {
    const why = await t.unavailable(probe).catch((e: unknown) => `cannot tell whether it runs here: ${message(e)}`);
    infos.push({ suite: 'import', id: t.id, label: t.label, role: t.role, unavailable: why });
    ctx.log(`import: ${t.id}: ${why ? `n/a: ${why}` : 'can run'}`);
  }

  const started = Date.now();
  ctx.log(`import: building the ${kind} image in ${ctx.tmp}`);
  let img: ImportImage;
  try {
    img = await buildImportImage(path.join(ctx.tmp, 'data'), kind, ctx.log);
  } catch (e) {
    // Without the image nothing can be measured: every figure is n/a with the reason.
    const why = `the image could not be built: ${message(e)}`;
    ctx.log(`import: ${why}`);
    const figures = targets.map((t) => naFigure({ suite: 'import', bench, title: `import a ${kind} OCI image`, target: t.id }, why));
    if (!ctx.keep) await fsp.rm(ctx.tmp, { recursive: true, force: true }).catch(() => undefined);
    return { figures, targets: infos, datasets: {}, notes: [`import: ${why}`] };
  }
  await must('sync');
  ctx.log(`import: image built in ${((Date.now() - started) / 1000).toFixed(0)} s: ${img.info.entries} entries, ${img.info.gzipBytes} bytes of gzip blobs`);

  const title = importTitle(img);
  const figures: Figure[] = [];
  const scratch = path.join(ctx.tmp, 'out');
  await fsp.mkdir(scratch, { recursive: true });
  for (const t of targets) {
    const base = { suite: 'import' as const, bench, title, target: t.id, ...(t.note ? { note: t.note } : {}) };
    const info = infos.find((i) => i.id === t.id)!;
    if (info.unavailable) {
      figures.push(naFigure(base, info.unavailable));
      continue;
    }
    try {
      const { samples, check } = await measure(t, img, scratch, sizes.runs);
      if (check) {
        figures.push({ ...naFigure(base, `check failed: ${check}`, 'error'), check });
        ctx.log(`import: ${t.id}: CHECK FAILED: ${check}`);
        continue;
      }
      const s = summarize(samples);
      figures.push(okFigure({ ...base, method: t.method, per: 'run' }, s));
      ctx.log(`import: ${t.id.padEnd(12)} ${(s.mean * 1e3).toFixed(0).padStart(7)} ms ±${Number.isFinite(s.rme) ? s.rme.toFixed(1) : '?'}% (${s.samples} runs)`);
    } catch (e) {
      figures.push(naFigure(base, message(e), 'error'));
      ctx.log(`import: ${t.id}: error: ${message(e)}`);
    }
  }
  if (!ctx.keep) await fsp.rm(ctx.tmp, { recursive: true, force: true }).catch(() => undefined);
  return {
    figures,
    targets: infos,
    datasets: { import: { ...sizes, ...img.info } },
    notes: [],
  };
}
