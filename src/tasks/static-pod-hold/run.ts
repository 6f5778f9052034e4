import { KcarunError } from '../../core/errors.js';
import { shellJoin } from '../../core/shell.js';
import { unknownUntilRun, type TaskContext, type TaskOutcome, type TaskPlan } from '../define.js';
import { drainHook, listeningContainerPid, runningContainerIds, waitForContainers } from '../shared/crictl.js';
import { mustRun } from '../shared/remote-run.js';
import { heldPath } from '../shared/held-manifest.js';
import { restoreBackup, saveBackup } from '../shared/backup.js';
import { applyFileEdits } from '../shared/file-edits.js';
import { diffStats } from '../shared/planned-file.js';
import { redactDiff } from '../shared/redact-diff.js';
import { unifiedDiff } from '../../edit/unified-diff.js';
import { statAndRead } from '../../transport/stat-and-read.js';
import type { FileStat } from '../../transport/types.js';
import type { StaticPodHoldParams } from './schema.js';

type Ctx = TaskContext<StaticPodHoldParams>;

const manifestOf = (p: StaticPodHoldParams): string => p.manifest ?? `/etc/kubernetes/manifests/${p.container}.yaml`;

async function rename(ctx: Ctx, from: string, to: string): Promise<void> {
  await mustRun(ctx, `mv -T -- ${shellJoin([from, to])}`);
}

/** `edits` belong to a release (the hold only sets the manifest aside). */
function refuseEditsOnHold(ctx: Ctx): void {
  if (ctx.params.action === 'hold' && ctx.params.edits?.length) {
    throw new KcarunError('E_SCHEMA', 'static-pod-hold: `edits` apply when the manifest comes back (action: release), not to a hold', { host: ctx.host.name });
  }
}

/**
 * hold: manifest -> held, then waits until no container of the pod runs; when the pod does not stop
 * in time the manifest is put back before the error (a held control-plane component must not
 * outlive a failed step). A resumed run finds the held copy and only waits.
 * Errors: E_TASK when neither file exists or both do; E_TIMEOUT; E_REMOTE_EXIT.
 */
async function hold(ctx: Ctx, manifest: string, held: string): Promise<TaskOutcome> {
  const { container } = ctx.params;
  refuseEditsOnHold(ctx);
  const [m, h] = await Promise.all([ctx.transport.stat(manifest, { become: ctx.params.become }), ctx.transport.stat(held, { become: ctx.params.become })]);
  if (!m && !h) throw new KcarunError('E_TASK', `no static pod manifest ${manifest} (and no held copy ${held})`, { host: ctx.host.name, path: manifest });
  if (m && h) throw new KcarunError('E_TASK', `both ${manifest} and its held copy ${held} exist: keep the one that is current and remove the other`, { host: ctx.host.name, path: held });
  // The drain needs a component that listens before it is set aside: a closed port then means the
  // kubelet's SIGTERM arrived, not that the component has not opened it yet.
  // Watched on the container's own process: another listener on the port must not fake the close.
  const old = ctx.params.drainPort !== undefined && m ? await runningContainerIds(ctx, container) : [];
  const listenerPid = ctx.params.drainPort !== undefined && m ? await listeningContainerPid(ctx, old, ctx.params.drainPort) : undefined;
  const drainPort = listenerPid === undefined ? undefined : ctx.params.drainPort;
  if (m) await rename(ctx, manifest, held);
  let drained: number | undefined;
  const stopSeconds = ctx.params.stopTimeoutSeconds ?? 5;
  try {
    const hook = drainHook(ctx, { drainPort, listenerPid, drainSeconds: stopSeconds, old, onDrained: (s) => (drained = s) });
    await waitForContainers(ctx, container, `${container} to stop after its manifest was set aside`, (ids) => (ids.length === 0 ? true : undefined), hook);
  } catch (err) {
    await rename(ctx, held, manifest);
    throw err;
  }
  const drainNote = drained === undefined ? '' : ` (stopped ${stopSeconds} s after :${ctx.params.drainPort} was closed, ${drained.toFixed(1)} s after the manifest was set aside)`;
  const summary = `${container} ${m ? 'held' : 'already held'}: ${manifest} set aside as ${held}, no container running${drainNote}`;
  // No `files`: a hold and its release rename, the manifest's bytes stay as they were. The run
  // report's changed files (and the dry run's planned changes, which must equal them) are content
  // changes; the summary says what happened.
  return { changed: true, summary, output: { summary }, undo: { manifest } };
}

/** The manifest as `edits` make it from `text` (the same text when there are none), with the diff and summaries. */
async function edited(ctx: Ctx, manifest: string, text: string): Promise<{ after: string; summaries: string[]; diff: string }> {
  const edits = ctx.params.edits ?? [];
  if (edits.length === 0) return { after: text, summaries: [], diff: '' };
  const { text: after, summaries } = await applyFileEdits({ ...ctx, params: { path: manifest, become: ctx.params.become } }, text, edits);
  const label = `${ctx.host.name}:${manifest}`;
  return { after, summaries, diff: after === text ? '' : redactDiff(unifiedDiff(text, after, { oldLabel: label, newLabel: label })) };
}

/**
 * Writes the edited manifest over `manifest` (atomically, with the mode of `st`), after a backup of
 * `original` (what the manifest held before this step: the held copy's bytes), and returns the
 * outcome parts of a file change, as file-patch's.
 */
async function writeEdited(ctx: Ctx, manifest: string, original: Buffer, st: FileStat | null, e: { after: string; summaries: string[]; diff: string }) {
  const undo = await saveBackup(ctx, manifest, original, st, ctx.params.become);
  await ctx.transport.writeFile(manifest, e.after, { become: ctx.params.become, mode: st?.mode ?? 0o600 });
  return { undo, diff: e.diff, files: [manifest] };
}

/**
 * release: held -> manifest, then waits for a running container. With `edits`, the manifest comes
 * back with them applied (backed up first, undone by a rollback), so the pod's one start takes the
 * new flags. Safe to repeat: nothing held is "not held"; both files present is either this step's
 * own write cut short (the manifest is the edited held copy: the held copy goes) or a rollback that
 * restored the manifest from a backup (the manifest wins, the held copy goes, the edits apply to it).
 * A manifest edited while its pod runs is replaced by the kubelet: the task then waits for a new
 * container. Errors: E_TASK when neither file exists, or `edits` on a hold; E_TIMEOUT; E_REMOTE_EXIT.
 */
async function release(ctx: Ctx, manifest: string, held: string): Promise<TaskOutcome> {
  const { container } = ctx.params;
  const become = ctx.params.become;
  const [m, h] = await Promise.all([statAndRead(ctx.transport, manifest, become), statAndRead(ctx.transport, held, become)]);
  if (!m.content && !h.content) throw new KcarunError('E_TASK', `no static pod manifest ${manifest} (and no held copy ${held})`, { host: ctx.host.name, path: manifest });
  let change: { undo: unknown; diff: string; files: string[] } | undefined;
  let summaries: string[] = [];
  let runningBefore: string[] = [];
  if (h.content) {
    const e = await edited(ctx, manifest, h.content.toString('utf8'));
    summaries = e.summaries;
    if (m.content && m.content.toString('utf8') === e.after && e.after !== h.content.toString('utf8')) {
      // This step wrote the manifest and was cut short before removing the held copy.
      change = { undo: await saveBackup(ctx, manifest, h.content, h.st, become), diff: e.diff, files: [manifest] };
      await mustRun(ctx, `rm -f -- ${shellJoin([held])}`);
    } else if (m.content) {
      ctx.log.warn(`${manifest} is back already (restored): removing the held copy ${held}`);
      await mustRun(ctx, `rm -f -- ${shellJoin([held])}`);
    } else if (e.after !== h.content.toString('utf8')) {
      change = await writeEdited(ctx, manifest, h.content, h.st, e);
      await mustRun(ctx, `rm -f -- ${shellJoin([held])}`);
    } else {
      await rename(ctx, held, manifest);
    }
  }
  if (m.content && !change) {
    // Not held (any more): the edits still apply to the manifest as read above (removing a held
    // copy does not change it).
    const e = await edited(ctx, manifest, m.content.toString('utf8'));
    if (e.after !== m.content.toString('utf8')) {
      runningBefore = await waitForContainers(ctx, container, `the running ${container} container`, (x) => x);
      summaries = e.summaries;
      change = await writeEdited(ctx, manifest, m.content, m.st, e);
    }
  }
  const ids = await waitForContainers(ctx, container, `a running ${container} container after its manifest came back`, (x) => {
    const fresh = x.filter((id) => !runningBefore.includes(id));
    return fresh.length > 0 ? fresh : undefined;
  });
  const flags = summaries.length ? ` with ${summaries.join(', ')}` : '';
  const summary = h.content || change ? `${container} released: ${manifest} back${flags}, container ${ids.join(',')} running` : `${container} was not held (container ${ids.join(',')} running)`;
  // A release that brought the pod back is undone by holding it again (rollbackStaticPodHold): a
  // rename alone has no file undo, so it records one that says so; one that found nothing held, none.
  const undo = change ? {} : h.content ? { undo: { released: manifest } } : {};
  return { changed: Boolean(h.content) || Boolean(change), summary, output: { summary }, ...(change ?? {}), ...undo };
}

export async function runStaticPodHold(ctx: Ctx): Promise<TaskOutcome> {
  const manifest = manifestOf(ctx.params);
  return ctx.params.action === 'hold' ? hold(ctx, manifest, heldPath(manifest)) : release(ctx, manifest, heldPath(manifest));
}

/**
 * Undoes a completed hold (the pod is released) or a completed release (the pod is held again, with
 * the release's drainPort; when the release edited the manifest, its bytes before the step go back
 * into the held copy). Each undo is the other action: a rolled-back release leaves the pod out of
 * service until the stage's `rollback:` list releases it, after that list has put back what the pod
 * could not serve without (the stock stages: etcd restarted on its restored files). Undoing a release
 * by restoring the manifest in place would restart the pod in service at once (session 23's review).
 */
export async function rollbackStaticPodHold(ctx: Ctx, undo: unknown): Promise<void> {
  if (ctx.params.action === 'release') {
    const manifest = manifestOf(ctx.params);
    const held = heldPath(manifest);
    await hold({ ...ctx, params: { ...ctx.params, action: 'hold', edits: undefined } }, manifest, held);
    // A release that edited the manifest recorded its backup (a file undo); a rename, `{ released }`.
    if (undo && typeof (undo as { path?: unknown }).path === 'string') await restoreBackup(ctx, { ...(undo as Record<string, unknown>), path: held });
    return;
  }
  const manifest = (undo as { manifest?: string } | undefined)?.manifest;
  if (!manifest) return;
  await release({ ...ctx, params: { ...ctx.params, action: 'release', edits: undefined } }, manifest, heldPath(manifest));
}

/**
 * The plan: the renames and waits, and with `edits` the manifest's exact diff (the dry run never
 * held it, so the edits apply to the manifest as it is), which later planned steps then read.
 */
export async function planStaticPodHold(ctx: Ctx): Promise<TaskPlan> {
  const { action, container } = ctx.params;
  refuseEditsOnHold(ctx);
  const manifest = manifestOf(ctx.params);
  const held = heldPath(manifest);
  const commands =
    action === 'hold'
      ? [
          `mv -T -- ${shellJoin([manifest, held])}`,
          ctx.params.drainPort === undefined
            ? `until no running ${container} container (the kubelet stops the pod gracefully)`
            : `until no running ${container} container (the kubelet stops the pod gracefully; once nothing listens on :${ctx.params.drainPort}, crictl stop ${ctx.params.stopTimeoutSeconds ?? 5} s later)`,
        ]
      : [`mv -T -- ${shellJoin([held, manifest])}`, `until a ${container} container runs`];
  const plan: TaskPlan = {
    changed: true,
    summary: action === 'hold' ? `would take ${container} out of service until it is released (${manifest} set aside)` : `would put ${container} back (${manifest} restored)`,
    commands,
    restarts: action === 'release' ? [{ component: container, how: 'static-pod released' }] : [],
    output: { summary: unknownUntilRun(`the ${action} of ${container}`) },
  };
  if (action === 'release' && ctx.params.edits?.length) {
    const { st, content } = await statAndRead(ctx.transport, manifest, ctx.params.become);
    if (content) {
      const e = await edited(ctx, manifest, content.toString('utf8'));
      if (e.after !== content.toString('utf8')) {
        plan.summary = `would put ${container} back (${manifest} restored) with ${e.summaries.join(', ')}`;
        plan.diff = e.diff;
        plan.files = [{ path: manifest, kind: 'modify', content: Buffer.from(e.after), mode: st?.mode ?? 0o600, ...diffStats(e.diff) }];
      }
    }
  }
  return plan;
}
