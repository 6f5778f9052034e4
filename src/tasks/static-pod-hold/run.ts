import { KcarunError } from '../../core/errors.js';
import { shellJoin } from '../../core/shell.js';
import { unknownUntilRun, type TaskContext, type TaskOutcome, type TaskPlan } from '../define.js';
import { waitForContainers } from '../shared/crictl.js';
import { mustRun } from '../shared/remote-run.js';
import { heldPath } from '../shared/held-manifest.js';
import type { StaticPodHoldParams } from './schema.js';

type Ctx = TaskContext<StaticPodHoldParams>;

const manifestOf = (p: StaticPodHoldParams): string => p.manifest ?? `/etc/kubernetes/manifests/${p.container}.yaml`;

async function rename(ctx: Ctx, from: string, to: string): Promise<void> {
  await mustRun(ctx, `mv -T -- ${shellJoin([from, to])}`);
}

/**
 * hold: manifest -> held, then waits until no container of the pod runs; when the pod does not stop
 * in time the manifest is put back before the error (a held control-plane component must not
 * outlive a failed step). A resumed run finds the held copy and only waits.
 * Errors: E_TASK when neither file exists or both do; E_TIMEOUT; E_REMOTE_EXIT.
 */
async function hold(ctx: Ctx, manifest: string, held: string): Promise<TaskOutcome> {
  const { container } = ctx.params;
  const [m, h] = await Promise.all([ctx.transport.stat(manifest, { become: ctx.params.become }), ctx.transport.stat(held, { become: ctx.params.become })]);
  if (!m && !h) throw new KcarunError('E_TASK', `no static pod manifest ${manifest} (and no held copy ${held})`, { host: ctx.host.name, path: manifest });
  if (m && h) throw new KcarunError('E_TASK', `both ${manifest} and its held copy ${held} exist: keep the one that is current and remove the other`, { host: ctx.host.name, path: held });
  if (m) await rename(ctx, manifest, held);
  try {
    await waitForContainers(ctx, container, `${container} to stop after its manifest was set aside`, (ids) => (ids.length === 0 ? true : undefined));
  } catch (err) {
    await rename(ctx, held, manifest);
    throw err;
  }
  const summary = `${container} ${m ? 'held' : 'already held'}: ${manifest} set aside as ${held}, no container running`;
  // No `files`: a hold and its release rename, the manifest's bytes stay as they were. The run
  // report's changed files (and the dry run's planned changes, which must equal them) are content
  // changes; the summary says what happened.
  return { changed: true, summary, output: { summary }, undo: { manifest } };
}

/**
 * release: held -> manifest, then waits for a running container. Safe to repeat: nothing held is
 * "not held"; both files present means the manifest was put back already (a rollback restoring it
 * from a backup): the manifest wins and the held copy is removed.
 * Errors: E_TASK when neither file exists; E_TIMEOUT; E_REMOTE_EXIT.
 */
async function release(ctx: Ctx, manifest: string, held: string): Promise<TaskOutcome> {
  const { container } = ctx.params;
  const [m, h] = await Promise.all([ctx.transport.stat(manifest, { become: ctx.params.become }), ctx.transport.stat(held, { become: ctx.params.become })]);
  if (!m && !h) throw new KcarunError('E_TASK', `no static pod manifest ${manifest} (and no held copy ${held})`, { host: ctx.host.name, path: manifest });
  if (h && m) {
    ctx.log.warn(`${manifest} is back already (restored): removing the held copy ${held}`);
    await mustRun(ctx, `rm -f -- ${shellJoin([held])}`);
  } else if (h) {
    await rename(ctx, held, manifest);
  }
  const ids = await waitForContainers(ctx, container, `a running ${container} container after its manifest came back`, (x) => (x.length > 0 ? x : undefined));
  const summary = h ? `${container} released: ${manifest} back, container ${ids.join(',')} running` : `${container} was not held (container ${ids.join(',')} running)`;
  return { changed: Boolean(h), summary, output: { summary } };
}

export async function runStaticPodHold(ctx: Ctx): Promise<TaskOutcome> {
  const manifest = manifestOf(ctx.params);
  return ctx.params.action === 'hold' ? hold(ctx, manifest, heldPath(manifest)) : release(ctx, manifest, heldPath(manifest));
}

/** Undoes a completed hold: the pod is released (a completed release needs no undo). */
export async function rollbackStaticPodHold(ctx: Ctx, undo: unknown): Promise<void> {
  const manifest = (undo as { manifest?: string } | undefined)?.manifest;
  if (ctx.params.action !== 'hold' || !manifest) return;
  await release(ctx, manifest, heldPath(manifest));
}

export async function planStaticPodHold(ctx: Ctx): Promise<TaskPlan> {
  const { action, container } = ctx.params;
  const manifest = manifestOf(ctx.params);
  const held = heldPath(manifest);
  const commands =
    action === 'hold'
      ? [`mv -T -- ${shellJoin([manifest, held])}`, `until no running ${container} container (the kubelet stops the pod gracefully)`]
      : [`mv -T -- ${shellJoin([held, manifest])}`, `until a ${container} container runs`];
  return {
    changed: true,
    summary: action === 'hold' ? `would take ${container} out of service until it is released (${manifest} set aside)` : `would put ${container} back (${manifest} restored)`,
    commands,
    restarts: action === 'release' ? [{ component: container, how: 'static-pod released' }] : [],
    output: { summary: unknownUntilRun(`the ${action} of ${container}`) },
  };
}
