import { defineTask } from '../define.js';
import { FlagReadSchema } from './schema.js';

/**
 * Reads settings from a component's configuration (read-only) and registers which are set and the
 * files they name: `{ set: [{ flag, value }], paths: [value, ...] }`. The stock signers stage uses
 * it to find the controller-manager's per-signer CA files and write the new CA into each.
 */
export const flagReadTask = defineTask({
  type: 'flag-read',
  description: "Reads settings (flags, etcd config keys, env variables, KubeletConfiguration fields) from a component's configuration file and registers their values; optionally checks the files they name hold one of the given CA certificates.",
  schema: FlagReadSchema,
  run: async (ctx) => (await import('./run.js')).runFlagRead(ctx),
  dryRun: async (ctx) => {
    const outcome = await (await import('./run.js')).runFlagRead(ctx);
    return { changed: false, summary: outcome.summary ?? '', output: outcome.output };
  },
});
