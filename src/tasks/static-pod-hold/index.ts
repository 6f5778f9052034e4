import { defineTask } from '../define.js';
import { StaticPodHoldSchema } from './schema.js';

export * from './schema.js';

/**
 * Takes a static pod out of service (`hold`) and puts it back (`release`), e.g. a stacked etcd
 * member's local kube-apiserver while that member is replaced, so the load balancer stops sending
 * it requests it could not serve (issue 18).
 */
export const staticPodHoldTask = defineTask({
  type: 'static-pod-hold',
  description: 'Stops a kubelet static pod by setting its manifest aside (hold), or puts the manifest back and waits for the pod (release).',
  schema: StaticPodHoldSchema,
  run: async (ctx) => (await import('./run.js')).runStaticPodHold(ctx),
  dryRun: async (ctx) => (await import('./run.js')).planStaticPodHold(ctx),
  rollback: async (ctx, undo) => (await import('./run.js')).rollbackStaticPodHold(ctx, undo),
});
