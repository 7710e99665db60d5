// `ufs image ls|inspect|rm|tag|create`: the store's images, by name (repository:tag) or ID.
import { registerCommand } from './commands.js';
import { ago, formatTable, humanSize, idOut, json } from './output.js';
import { parseImageConfig } from '../layers/image-config.js';
import { readBlob } from '../store/blobs.js';

registerCommand(
  {
    words: ['image', 'ls'],
    aliases: [['image', 'list'], ['images']],
    summary: 'List images',
    usage: 'image ls [--json] [--no-trunc] [-q]',
    options: { 'no-trunc': { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' } },
    json: true,
    async run(ctx) {
      const st = await ctx.store();
      const images = await st.images();
      const layers = new Map((await st.layers()).map((l) => [l.chainID, l]));
      const rows = images.map((img) => ({ ...img, size: img.layers.reduce((a, c) => a + (layers.get(c)?.size ?? 0), 0) }));
      if (ctx.json) return ctx.out(json(rows));
      const full = ctx.values['no-trunc'] === true;
      if (ctx.values.quiet) return ctx.out(rows.map((r) => idOut(r.id, full)).join('\n'));
      const lines: string[][] = [];
      for (const r of rows) {
        const names = r.tags.length ? r.tags : ['<none>:<none>'];
        for (const t of names) {
          const i = t.lastIndexOf(':');
          lines.push([t.slice(0, i), t.slice(i + 1), idOut(r.id, full), ago(r.created), String(r.layers.length), humanSize(r.size)]);
        }
      }
      ctx.out(formatTable(['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'LAYERS', 'SIZE'], lines));
    },
  },
  {
    words: ['image', 'inspect'],
    summary: 'Show images in detail (record and config), as JSON',
    usage: 'image inspect IMAGE...',
    arity: [1, Infinity],
    async run(ctx) {
      const st = await ctx.store();
      const out = [];
      for (const ref of ctx.args) {
        const img = await st.image(ref);
        const config = parseImageConfig(await readBlob(st.root, img.id));
        const layers = await Promise.all(img.layers.map((c) => st.layer(c)));
        out.push({ ...img, driver: st.driver.name, size: layers.reduce((a, l) => a + l.size, 0), layerDetails: layers, config });
      }
      ctx.out(json(out));
    },
  },
  {
    words: ['image', 'rm'],
    aliases: [['image', 'remove'], ['rmi']],
    summary: 'Remove images (a name with other names left is only untagged)',
    usage: 'image rm [--force] IMAGE...',
    help: 'Refused while a container uses the image. Layers no other image, container or layer uses go with it.\n  -f, --force   remove an image that has several names, given by ID',
    options: { force: { type: 'boolean', short: 'f' } },
    arity: [1, Infinity],
    async run(ctx) {
      const st = await ctx.store();
      for (const ref of ctx.args) {
        const r = await st.removeImage(ref, { force: ctx.values.force === true });
        for (const t of r.untagged) ctx.out(`Untagged: ${t}`);
        if (r.deleted) ctx.out(`Deleted: ${r.deleted}`);
        for (const l of r.layersRemoved) ctx.out(`Deleted layer: ${l}`);
      }
    },
  },
  {
    words: ['image', 'tag'],
    aliases: [['tag']],
    summary: 'Give an image another name (repository[:tag], tag latest by default)',
    usage: 'image tag IMAGE NAME',
    arity: [2, 2],
    async run(ctx) {
      const st = await ctx.store();
      await st.tag(ctx.args[0]!, ctx.args[1]!);
    },
  },
  {
    words: ['image', 'create'],
    summary: 'Make an image of layers (bottom first, each standing on the one before)',
    usage: 'image create NAME LAYER... [--json]',
    help: "LAYER is a chainID (or a unique prefix, or a diffID) from 'ufs layer ls'. Prints the image ID.",
    arity: [1, Infinity],
    json: true,
    async run(ctx) {
      const st = await ctx.store();
      const img = await st.createImage(ctx.args[0]!, ctx.args.slice(1));
      ctx.out(ctx.json ? json(img) : img.id);
    },
  },
);
