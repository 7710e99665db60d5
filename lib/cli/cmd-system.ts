// `ufs migrate`, `ufs check [--repair]` and `ufs system df`: the store as a whole.
import { registerCommand } from './commands.js';
import { EXIT, UsageError, formatTable, humanSize, idOut, json } from './output.js';

registerCommand(
  {
    words: ['migrate'],
    summary: 'Move every layer and container to another storage driver, keeping every digest',
    usage: 'migrate --to DRIVER [--json]',
    help: "Each layer and container goes through diff and apply-diff; if any would not come back with the same\ndigest nothing changes (exit 4). Release mounts of the store first.",
    options: { to: { type: 'string' } },
    json: true,
    async run(ctx) {
      const to = ctx.values.to;
      if (typeof to !== 'string') throw new UsageError("'ufs migrate' needs --to DRIVER (see 'ufs driver ls')");
      const st = await ctx.store();
      const r = await st.migrate(to, { driverOptions: ctx.storageOpts, ...(ctx.json ? {} : { onProgress: (m: string) => ctx.err(m) }) });
      ctx.out(ctx.json ? json(r) : `Migrated ${r.digests.length} layers and containers from ${r.from} to ${r.to}`);
    },
  },
  {
    words: ['check'],
    summary: 'Check the store for leftovers of interrupted work and broken references',
    usage: 'check [--repair] [--json]',
    help: 'Exit 6 when something is left over or broken (after repairing, when --repair is given).\n  --repair   remove the leftovers (and containers whose read-write layer is gone)',
    options: { repair: { type: 'boolean' } },
    json: true,
    async run(ctx) {
      const st = await ctx.store();
      const r = await st.check({ repair: ctx.values.repair === true });
      if (ctx.json) ctx.out(json(r));
      else {
        const lines: string[] = [];
        for (const l of r.leftovers) lines.push(`leftover ${l.kind}: ${l.path} (${l.detail})`);
        for (const p of r.problems) lines.push(`problem: ${p}`);
        for (const x of r.repaired) lines.push(`repaired: ${x}`);
        if (!lines.length) lines.push('ok: no leftovers, no problems');
        else if (r.leftovers.length && ctx.values.repair !== true) lines.push("run 'ufs check --repair' to remove the leftovers");
        ctx.out(lines.join('\n'));
      }
      return r.ok ? EXIT.OK : EXIT.CHECK_FAILED;
    },
  },
  {
    words: ['system', 'df'],
    aliases: [['df']],
    summary: 'Show what images (shared and unique parts), layers and containers take',
    usage: 'system df [--json] [-v]',
    options: { verbose: { type: 'boolean', short: 'v' } },
    json: true,
    async run(ctx) {
      const st = await ctx.store();
      const df = await st.df();
      if (ctx.json) return ctx.out(json(df));
      const unique = df.images.reduce((a, i) => a + i.unique, 0);
      const shared = df.layers.size - unique;
      const lines = [formatTable(['TYPE', 'TOTAL', 'SIZE', 'SHARED', 'UNIQUE'], [
        ['Images', String(df.images.length), humanSize(df.layers.size), humanSize(Math.max(0, shared)), humanSize(unique)],
        ['Containers', String(df.containers.length), humanSize(df.containers.reduce((a, c) => a + c.size, 0)), '-', '-'],
        ['Layers', String(df.layers.count), humanSize(df.layers.size), '-', '-'],
      ])];
      if (df.driverDiskUsage !== null) lines.push('', `On disk (${st.driver.name} driver): ${humanSize(df.driverDiskUsage)}`);
      if (ctx.values.verbose) {
        lines.push('', 'Images:', formatTable(['REPOSITORY:TAG', 'IMAGE ID', 'SIZE', 'SHARED SIZE', 'UNIQUE SIZE', 'CONTAINERS'],
          df.images.map((i) => [i.tags.join(',') || '<none>', idOut(i.id, false), humanSize(i.size), humanSize(i.shared), humanSize(i.unique), String(i.containers)])));
        lines.push('', 'Containers:', formatTable(['CONTAINER ID', 'NAME', 'SIZE'], df.containers.map((c) => [idOut(c.id, false), c.name, humanSize(c.size)])));
      }
      ctx.out(lines.join('\n'));
    },
  },
);
