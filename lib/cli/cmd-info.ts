// `ufs info` (the store, its driver and what it reports) and `ufs driver ls` (which drivers can
// work here, and why not).
import { registerCommand } from './commands.js';
import { formatTable, json } from './output.js';
import { availability } from '../drivers/registry.js';
import { nativeLoadError, native } from '../native.js';
import '../drivers/index.js';

registerCommand(
  {
    words: ['info'],
    summary: 'Show the store, its storage driver and its counts',
    usage: 'info [--json]',
    json: true,
    async run(ctx) {
      const st = await ctx.store();
      const info = await st.info();
      const caps = st.driver.capabilities();
      if (ctx.json) {
        ctx.out(json({ ...info, status: Object.fromEntries(info.status), capabilities: caps, nativeAddon: native() !== null }));
        return;
      }
      const lines = [
        `Root: ${info.root}`,
        `Storage Driver: ${info.driver}`,
        ...info.status.map(([k, v]) => ` ${k}: ${v}`),
        ` Whiteouts: ${caps.whiteout}`,
        ` Native Diff: ${caps.nativeDiff}`,
        ` Persistent: ${caps.persistent}`,
        `Images: ${info.images}`,
        `Layers: ${info.layers}`,
        `Containers: ${info.containers}`,
        `Native Addon: ${native() ? 'loaded' : `missing (${nativeLoadError()})`}`,
      ];
      ctx.out(lines.join('\n'));
    },
  },
  {
    words: ['driver', 'ls'],
    aliases: [['driver', 'list'], ['drivers']],
    summary: 'List the storage drivers and whether each can work here',
    usage: 'driver ls [--json]',
    json: true,
    async run(ctx) {
      const list = await availability(ctx.root, ctx.storageOpts);
      if (ctx.json) {
        ctx.out(json(list));
        return;
      }
      ctx.out(formatTable(['NAME', 'AVAILABLE', 'DESCRIPTION / WHY NOT'], list.map((d) => [d.name, d.available ? 'yes' : 'no', d.available ? d.description : (d.reason ?? '')])));
    },
  },
);
