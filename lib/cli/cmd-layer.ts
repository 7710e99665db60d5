// `ufs layer ls|create|rm|inspect`: the store's layers (content-addressed by chainID).
import { registerCommand } from './commands.js';
import { UsageError, ago, formatTable, humanSize, idOut, json } from './output.js';

registerCommand(
  {
    words: ['layer', 'ls'],
    aliases: [['layer', 'list'], ['layers']],
    summary: 'List layers',
    usage: 'layer ls [--json] [--no-trunc] [-q]',
    options: { 'no-trunc': { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' } },
    json: true,
    async run(ctx) {
      const st = await ctx.store();
      const layers = await st.layers();
      const images = await st.images();
      const rows = layers.map((l) => ({ ...l, images: images.filter((i) => i.layers.includes(l.chainID)).length }));
      if (ctx.json) return ctx.out(json(rows));
      const full = ctx.values['no-trunc'] === true;
      if (ctx.values.quiet) return ctx.out(rows.map((r) => idOut(r.chainID, full)).join('\n'));
      ctx.out(formatTable(
        ['CHAIN ID', 'DIFF ID', 'PARENT', 'CREATED', 'SIZE', 'IMAGES'],
        rows.map((r) => [idOut(r.chainID, full), idOut(r.diffID, full), r.parent ? idOut(r.parent, full) : '-', ago(r.created), humanSize(r.size), String(r.images)]),
      ));
    },
  },
  {
    words: ['layer', 'create'],
    summary: 'Make a layer of a directory (read in the aufs format: .wh. names are whiteouts)',
    usage: 'layer create --from DIR [--parent LAYER] [--format aufs|overlay] [--json]',
    help: 'Prints the layer chainID.\n  --from DIR        the directory holding the layer\'s content\n  --parent LAYER    the layer it stands on (default: none, a base layer)\n  --format F        how DIR records deletions: aufs (.wh. files, default) or overlay (0/0 devices, xattrs)',
    options: { from: { type: 'string' }, parent: { type: 'string' }, format: { type: 'string' } },
    json: true,
    async run(ctx) {
      const from = ctx.values.from;
      if (typeof from !== 'string') throw new UsageError("'ufs layer create' needs --from DIR");
      const format = ctx.values.format ?? 'aufs';
      if (format !== 'aufs' && format !== 'overlay') throw new UsageError(`--format must be aufs or overlay, not '${String(format)}'`);
      const st = await ctx.store();
      const l = await st.createLayerFromDir(from, { parent: typeof ctx.values.parent === 'string' ? ctx.values.parent : null, format });
      ctx.out(ctx.json ? json(l) : l.chainID);
    },
  },
  {
    words: ['layer', 'rm'],
    aliases: [['layer', 'remove']],
    summary: 'Remove layers nothing uses (no image, container or layer on them)',
    usage: 'layer rm LAYER...',
    arity: [1, Infinity],
    async run(ctx) {
      const st = await ctx.store();
      for (const ref of ctx.args) ctx.out(`Deleted layer: ${await st.removeLayer(ref)}`);
    },
  },
  {
    words: ['layer', 'inspect'],
    summary: 'Show layers in detail (record, driver metadata, changes), as JSON',
    usage: 'layer inspect LAYER...',
    arity: [1, Infinity],
    async run(ctx) {
      const st = await ctx.store();
      const out = [];
      for (const ref of ctx.args) {
        const l = await st.layer(ref);
        out.push({ ...l, driver: st.driver.name, driverMetadata: await st.driver.metadata(l.cacheID), changes: await st.layerChanges(l.chainID) });
      }
      ctx.out(json(out));
    },
  },
);
