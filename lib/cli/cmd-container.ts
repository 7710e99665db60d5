// `ufs container create|ls|rm|diff|commit|inspect`: read-write layers on images, their changes,
// and commits into new images.
import { registerCommand } from './commands.js';
import { ago, formatTable, humanSize, idOut, json } from './output.js';
import { parseVolume } from '../store/containers.js';

registerCommand(
  {
    words: ['container', 'create'],
    aliases: [['create']],
    summary: 'Create a container (a read-write layer) on an image',
    usage: 'container create IMAGE [--name NAME] [--volume HOSTDIR:/path[:ro]]... [--json]',
    help: 'Prints the container ID.\n  --name NAME        a name (default: ufs_<short id>)\n  -v, --volume H:/p  HOSTDIR seen at /p in the container, bypassing its layers (never in a diff or commit)',
    options: { name: { type: 'string' }, volume: { type: 'string', short: 'v', multiple: true } },
    arity: [1, 1],
    json: true,
    async run(ctx) {
      const st = await ctx.store();
      const volumes = ((ctx.values.volume as string[] | undefined) ?? []).map(parseVolume);
      const c = await st.createContainer(ctx.args[0]!, { ...(typeof ctx.values.name === 'string' ? { name: ctx.values.name } : {}), volumes });
      ctx.out(ctx.json ? json(c) : c.id);
    },
  },
  {
    words: ['container', 'ls'],
    aliases: [['container', 'list'], ['ps']],
    summary: 'List containers',
    usage: 'container ls [--json] [--no-trunc] [-q] [-s]',
    options: { 'no-trunc': { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' }, size: { type: 'boolean', short: 's' } },
    json: true,
    async run(ctx) {
      const st = await ctx.store();
      const list = await st.containers();
      const images = new Map((await st.images()).map((i) => [i.id, i]));
      const full = ctx.values['no-trunc'] === true;
      const sizes = new Map<string, number>();
      if (ctx.values.size) for (const c of (await st.df()).containers) sizes.set(c.id, c.size);
      if (ctx.json) return ctx.out(json(list.map((c) => ({ ...c, ...(ctx.values.size ? { size: sizes.get(c.id) ?? 0 } : {}) }))));
      if (ctx.values.quiet) return ctx.out(list.map((c) => idOut(c.id, full)).join('\n'));
      const headers = ['CONTAINER ID', 'IMAGE', 'CREATED', 'VOLUMES', 'NAME', ...(ctx.values.size ? ['SIZE'] : [])];
      ctx.out(formatTable(headers, list.map((c) => [
        idOut(c.id, full),
        images.get(c.image)?.tags[0] ?? idOut(c.image, full),
        ago(c.created),
        c.volumes.map((v) => `${v.hostdir}:${v.path}${v.readonly ? ':ro' : ''}`).join(',') || '-',
        c.name,
        ...(ctx.values.size ? [humanSize(sizes.get(c.id) ?? 0)] : []),
      ])));
    },
  },
  {
    words: ['container', 'rm'],
    aliases: [['container', 'remove'], ['rm']],
    summary: 'Remove containers and their read-write layers (volumes stay)',
    usage: 'container rm CONTAINER...',
    arity: [1, Infinity],
    async run(ctx) {
      const st = await ctx.store();
      for (const ref of ctx.args) {
        await st.removeContainer(ref);
        ctx.out(ref);
      }
    },
  },
  {
    words: ['container', 'diff'],
    aliases: [['diff']],
    summary: "Show a container's changes to its image (A added, C changed, D deleted)",
    usage: 'container diff CONTAINER [--json]',
    arity: [1, 1],
    json: true,
    async run(ctx) {
      const st = await ctx.store();
      const changes = await st.containerChanges(ctx.args[0]!);
      ctx.out(ctx.json ? json(changes) : changes.map((c) => `${c.kind} ${c.path}`).join('\n'));
    },
  },
  {
    words: ['container', 'commit'],
    aliases: [['commit']],
    summary: "Make a new image of a container's changes on top of its image",
    usage: 'container commit CONTAINER NAME [--message TEXT] [--json]',
    help: 'Prints the new image ID. Volumes are not part of the commit.',
    options: { message: { type: 'string', short: 'm' } },
    arity: [2, 2],
    json: true,
    async run(ctx) {
      const st = await ctx.store();
      const img = await st.commit(ctx.args[0]!, ctx.args[1]!, typeof ctx.values.message === 'string' ? { comment: ctx.values.message } : {});
      ctx.out(ctx.json ? json(img) : img.id);
    },
  },
  {
    words: ['container', 'inspect'],
    summary: 'Show containers in detail, as JSON',
    usage: 'container inspect CONTAINER...',
    arity: [1, Infinity],
    async run(ctx) {
      const st = await ctx.store();
      const out = [];
      for (const ref of ctx.args) {
        const c = await st.container(ref);
        out.push({ ...c, driver: st.driver.name, driverMetadata: await st.driver.metadata(c.rwLayer) });
      }
      ctx.out(json(out));
    },
  },
);
