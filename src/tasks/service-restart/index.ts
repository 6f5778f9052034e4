import { defineTask } from '../define.js';
import { ServiceRestartSchema } from './schema.js';

export * from './schema.js';

/** Restarts a component and waits until a new process or container runs (and `check` passes). */
export const serviceRestartTask = defineTask({
  type: 'service-restart',
  description: 'Restarts a component (systemd unit, kubelet static pod, or custom command) and waits for the new process/container.',
  schema: ServiceRestartSchema,
  run: async (ctx) => (await import('./run.js')).runServiceRestart(ctx),
  dryRun: async (ctx) => (await import('./run.js')).planServiceRestart(ctx),
});
