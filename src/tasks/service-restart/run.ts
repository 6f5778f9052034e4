import { pollUntil } from '../../core/async.js';
import { KcarunError } from '../../core/errors.js';
import { shellJoin, shellQuote } from '../../core/shell.js';
import type { ExecResult } from '../../transport/types.js';
import { unknownUntilRun, type TaskContext, type TaskOutcome, type TaskPlan } from '../define.js';
import type { ServiceRestartParams } from './schema.js';
import { setPath } from '../../edit/yaml-path.js';
import { containerPid, crictlStopCommand, drainHook, listeningContainerPid, portDrain, portListening, runningContainerIds, waitForContainers } from '../shared/crictl.js';
import { mustRun } from '../shared/remote-run.js';

type Ctx = TaskContext<ServiceRestartParams>;

function need<T>(ctx: Ctx, value: T | undefined, name: string): T {
  if (value === undefined) throw new KcarunError('E_SCHEMA', `service-restart method ${ctx.params.method} needs \`${name}\``, { host: ctx.host.name });
  return value;
}

async function sh(ctx: Ctx, command: string): Promise<ExecResult> {
  return ctx.transport.exec(command, { become: ctx.params.become, signal: ctx.signal });
}

/** Polls `probe` until it returns a value, or fails with E_TIMEOUT describing the last state seen. */
async function waitFor<T>(ctx: Ctx, what: string, probe: () => Promise<{ done: T } | { state: string }>): Promise<T> {
  return pollUntil(probe, {
    timeoutMs: (ctx.params.timeoutSeconds ?? 120) * 1000,
    intervalMs: (ctx.params.pollSeconds ?? 1) * 1000,
    signal: ctx.signal,
    timeoutError: (last) => new KcarunError('E_TIMEOUT', `${what} did not happen within ${ctx.params.timeoutSeconds ?? 120} s (last: ${last})`, { host: ctx.host.name }),
  });
}

async function runCheck(ctx: Ctx): Promise<void> {
  const check = ctx.params.check;
  if (!check) return;
  await waitFor(ctx, `check \`${check}\``, async () => {
    const r = await sh(ctx, check);
    return r.rc === 0 ? { done: true } : { state: `rc=${r.rc} ${r.stderr.trim().split('\n').pop() ?? ''}` };
  });
}

// ---- systemd ----

async function mainPid(ctx: Ctx, unit: string): Promise<number | undefined> {
  // Not every systemctl (or emulation) has `show`; without it the wait relies on is-active alone.
  const r = await sh(ctx, `systemctl show -p MainPID --value ${shellQuote(unit)}`);
  // `--value` prints the bare number; without it (or in emulations) it is `MainPID=123`.
  const m = /^(?:MainPID=)?(\d+)$/m.exec(r.stdout);
  return r.rc === 0 && m ? Number(m[1]) : undefined;
}

/**
 * While `restart` (a running `systemctl restart`) waits for the unit's old main process `pid` to end:
 * once nothing listens on `port` any more while `pid` is still the unit's MainPID (systemd's SIGTERM
 * arrived and the component closed its listener), lets `drainSeconds` pass for the in-flight
 * requests, then sends `pid` the SIGKILL systemd itself sends after TimeoutStopSec (90 s by default);
 * systemd then starts the unit at once. kube-apiserver needs this: on SIGTERM it closes its
 * listener at once but its HTTP server's Shutdown waits for the watch connections until its 60-s
 * ShutdownTimeout (k8s.io/apiserver@v0.37.2 pkg/server/genericapiserver.go:585-626, 716-744), so a
 * plain `systemctl restart` of a real apiserver takes ~60 s (measured on binary-real: 60-65 s each,
 * docs/lab.md). The PID is checked to be MainPID in the same shell command as the kill, so a
 * process that ended and a PID reused meanwhile are never signalled. Resolves with the seconds from
 * the start to the kill, or undefined when it did not kill (the restart ended first, or `ss` cannot tell).
 */
async function drainSystemd(ctx: Ctx, o: { unit: string; pid: number; port: number; drainSeconds: number; restart: Promise<unknown> }): Promise<number | undefined> {
  const t0 = Date.now();
  let ended = false;
  void o.restart.then(
    () => (ended = true),
    () => (ended = true),
  );
  const pid = String(o.pid);
  const step = portDrain(
    ctx,
    o.port,
    o.drainSeconds,
    async () => {
      await sh(ctx, `[ "$(systemctl show -p MainPID --value ${shellQuote(o.unit)})" = ${pid} ] && kill -s KILL ${pid}`);
    },
    o.pid,
  );
  while (!ended && !ctx.signal?.aborted) {
    const state = await step();
    if (state === 'unknown') return undefined;
    if (state === 'stopped') return (Date.now() - t0) / 1000;
    // the next poll, or the restart's end, whichever comes first
    await Promise.race([new Promise((r) => setTimeout(r, (ctx.params.pollSeconds ?? 1) * 1000)), o.restart.catch(() => undefined)]);
  }
  return undefined;
}

async function restartSystemd(ctx: Ctx): Promise<string> {
  const unit = need(ctx, ctx.params.unit, 'unit');
  const before = await mainPid(ctx, unit);
  if (ctx.params.daemonReload ?? true) await mustRun(ctx, 'systemctl daemon-reload');
  // drainPort: the old process must be listening now, so that a closed port later means systemd's
  // SIGTERM arrived (not a component still starting).
  const port = ctx.params.drainPort;
  // (its own socket: `ss -p` names the main process, so another listener on the port does not count)
  const drain = port !== undefined && before !== undefined && before !== 0 && (await portListening(ctx, port, before)) === true;
  const restart = mustRun(ctx, `systemctl restart ${shellQuote(unit)}`);
  const killedAt = drain ? await drainSystemd(ctx, { unit, pid: before, port, drainSeconds: ctx.params.stopTimeoutSeconds ?? 0, restart }) : undefined;
  await restart;
  const drainNote = killedAt === undefined ? '' : `; the old one stopped ${ctx.params.stopTimeoutSeconds ?? 0} s after :${port} was closed, ${killedAt.toFixed(1)} s into the restart`;
  const pid = await waitFor<number | undefined>(ctx, `${unit} active with a new main process`, async () => {
    const active = (await sh(ctx, `systemctl is-active ${shellQuote(unit)}`)).stdout.trim();
    if (active !== 'active') return { state: active || 'unknown' };
    if (before === undefined) return { done: undefined };
    const now = await mainPid(ctx, unit);
    return now !== undefined && now !== 0 && now !== before ? { done: now } : { state: `active, MainPID still ${now}` };
  });
  return pid === undefined ? `${unit} restarted (active${drainNote})` : `${unit} restarted (MainPID ${before} -> ${pid}${drainNote})`;
}

// ---- static pods (kubelet) ----

async function waitForNewContainer(ctx: Ctx, name: string, old: string[], meanwhile?: (ids: string[]) => Promise<void>): Promise<string> {
  return waitForContainers(ctx, name, `a new ${name} container`, (ids) => ids.find((id) => !old.includes(id)), meanwhile);
}

/** When the running container was created (crictl inspect .status.createdAt), in ms; null when unknown. */
async function containerCreatedMs(ctx: Ctx, id: string): Promise<number | null> {
  const r = await sh(ctx, `crictl inspect ${shellQuote(id)}`);
  if (r.rc !== 0) return null;
  try {
    const created = Date.parse(String((JSON.parse(r.stdout) as { status?: { createdAt?: string } }).status?.createdAt));
    return Number.isFinite(created) ? created : null;
  } catch {
    return null;
  }
}

/** The manifest's modification time in ms; null when it cannot be read. */
async function manifestMtimeMs(ctx: Ctx, manifest: string): Promise<number | null> {
  const r = await sh(ctx, `stat -c %.3Y ${shellQuote(manifest)}`);
  const seconds = Number.parseFloat(r.stdout.trim());
  return r.rc === 0 && Number.isFinite(seconds) ? seconds * 1000 : null;
}

/**
 * A manifest edited after its container started is the kubelet's to act on: it replaces the pod by
 * itself (a real kubelet within its file-check period, ~20 s). Stopping the container as well would
 * race it: the kubelet may restart the old spec, then replace it again while the next host is
 * already restarting. So kcarun only waits then; it stops the container only when the manifest is
 * older than it (files the pod reads changed, not the manifest).
 */
function kubeletWillReplace(t: PodTimes): boolean {
  const created = t.createdMs[0];
  return t.mtimeMs !== null && created !== undefined && created !== null && t.mtimeMs > created;
}

/** The manifest's last write and each running container's creation, in ms (host clock); null: unknown. */
interface PodTimes {
  mtimeMs: number | null;
  createdMs: (number | null)[];
}

/** Reads PodTimes once (a stat and one `crictl inspect` per container), for both checks below. */
async function podTimes(ctx: Ctx, manifest: string, ids: string[]): Promise<PodTimes> {
  const [mtimeMs, ...createdMs] = await Promise.all([manifestMtimeMs(ctx, manifest), ...ids.map((id) => containerCreatedMs(ctx, id))]);
  return { mtimeMs, createdMs };
}

/**
 * Whether the kubelet already replaced the pod for a manifest this stage changed: every running
 * container was created after the manifest's last write (both times from the host's clock). A
 * kubelet that notices the write at once (inotify) replaces the pod before the restart step even
 * lists containers; stopping that new container too was a second restart for nothing: 28
 * kube-apiserver restarts for the playbook's 15 (issue 19, docs/benchmarks.md).
 */
function kubeletReplacedAfter(t: PodTimes): boolean {
  const mtime = t.mtimeMs;
  return mtime !== null && t.createdMs.length > 0 && t.createdMs.every((c) => c !== null && c > mtime);
}

/** The annotation whose new value makes the kubelet see a new static pod (strategy `annotation`). */
export const RESTART_ANNOTATION = 'kcarun.io/restarted-at';

/**
 * Strategy `annotation`: the manifest gets a new `kcarun.io/restarted-at` value in its pod metadata,
 * written atomically (a dot-named temp file beside it, renamed over it: the kubelet ignores dot files).
 * The kubelet derives a static pod's UID from the manifest's content (pkg/kubelet/config/common.go,
 * applyDefaults -> generatePodName/hash), so the pod is a new one: the old pod is stopped gracefully
 * and the new one starts at once, without the CrashLoop back-off a container of the same pod gets
 * when it is restarted again within 10 minutes (crictl stop: 10, 20, 40 s ...), and the manifest is
 * never absent (moving it out and back leaves no control plane if kcarun dies in between, and keeps
 * the old UID, so the back-off stays). Returns the new value.
 */
async function annotateManifest(ctx: Ctx, manifest: string, now: Date): Promise<string> {
  const st = await ctx.transport.stat(manifest, { become: ctx.params.become });
  if (!st) throw new KcarunError('E_TASK', `${manifest} does not exist: no static pod to restart`, { host: ctx.host.name, path: manifest });
  const text = (await ctx.transport.readFile(manifest, { become: ctx.params.become })).toString('utf8');
  const value = now.toISOString();
  const edited = setPath(text, `metadata.annotations["${RESTART_ANNOTATION}"]`, value);
  await ctx.transport.writeFile(manifest, edited.text, { become: ctx.params.become, mode: st.mode });
  return value;
}

/**
 * The restart attempt of the running container (`crictl ps -o json` .metadata.attempt): 0 is the
 * pod's first container, whose first restart the kubelet does at once; from 1 on, it waits its
 * CrashLoop back-off (10 s, doubling, kept for 10 minutes). Null when crictl cannot tell.
 */
async function containerAttempt(ctx: Ctx, id: string): Promise<number | null> {
  const r = await sh(ctx, `crictl ps --id ${shellQuote(id)} -o json`);
  if (r.rc !== 0) return null;
  try {
    const attempt = (JSON.parse(r.stdout) as { containers?: Array<{ metadata?: { attempt?: number } }> }).containers?.[0]?.metadata?.attempt;
    return typeof attempt === 'number' ? attempt : 0;
  } catch {
    return null;
  }
}

/**
 * Strategy `auto`: `crictl stop` (SIGTERM, then SIGKILL after stopTimeoutSeconds) while the running
 * container is its pod's first (no back-off: the kubelet restarts it at once, same pod, so nothing
 * else changes), else the annotation (a new pod, no back-off). Measured on the lab's kubelet 1.37:
 * a new pod UID makes the kubelet delete and re-create the mirror pod through the node's own
 * apiserver before starting the container (kubelet.go SyncPod), which stalls ~35 s when that
 * apiserver cannot reach its etcd (kubeadm's stacked etcd restarting); the back-off from the second
 * restart on costs 10, 20, 40 s.
 */
async function chooseStrategy(ctx: Ctx, old: string[]): Promise<'crictl-stop' | 'annotation'> {
  if (old.length === 0) return 'crictl-stop';
  const attempt = await containerAttempt(ctx, old[0]!);
  return attempt === 0 ? 'crictl-stop' : 'annotation';
}

async function restartStaticPod(ctx: Ctx): Promise<string> {
  const name = need(ctx, ctx.params.container, 'container');
  const manifest = ctx.params.manifest ?? `/etc/kubernetes/manifests/${name}.yaml`;
  const old = await runningContainerIds(ctx, name);
  // Read on first need, once: the move-manifest strategy outside a manifest-changing stage needs none.
  let read: Promise<PodTimes> | undefined;
  const times = (): Promise<PodTimes> => (read ??= podTimes(ctx, manifest, old));
  if (ctx.changedInStage.includes(manifest) && kubeletReplacedAfter(await times())) {
    return `${name} replaced by the kubelet after this stage's manifest change (container ${old.join(',')})`;
  }
  const asked = ctx.params.strategy ?? 'crictl-stop';
  const strategy = asked === 'auto' ? await chooseStrategy(ctx, old) : asked;
  const willReplace = strategy !== 'move-manifest' && kubeletWillReplace(await times());
  // Where the kubelet stops the old container while kcarun waits for the new one (a changed
  // manifest, the annotation), its graceful stop may be cut to the drain the component needs
  // (drainHook). Before kcarun's own annotation the component must be listening: a closed port then
  // means the kubelet's SIGTERM arrived, not a component still starting. (After an earlier step's
  // manifest change the kubelet may have closed it already; the stock stages gate every restart on
  // readiness, so it was listening.) Either way the port is watched on the old container's own
  // process, so another listener on it neither hides nor fakes the close.
  const port = ctx.params.drainPort;
  let listenerPid: number | undefined;
  if (port !== undefined && willReplace && old.length === 1) listenerPid = await containerPid(ctx, old[0]!);
  else if (port !== undefined && strategy === 'annotation') listenerPid = await listeningContainerPid(ctx, old, port);
  const drainPort = listenerPid === undefined ? undefined : port;
  if (strategy === 'crictl-stop' || strategy === 'annotation') {
    if (old.length === 0) ctx.log.warn(`no running ${name} container; waiting for the kubelet to start one`);
    if (willReplace) {
      ctx.log.info(`${name}: the manifest changed after the container started; waiting for the kubelet to replace it`);
    } else if (strategy === 'annotation') {
      const value = await annotateManifest(ctx, manifest, new Date());
      ctx.log.info(`${name}: ${manifest} annotated ${RESTART_ANNOTATION}=${value}; waiting for the kubelet to replace the pod`);
    } else {
      for (const id of old) {
        const r = await sh(ctx, crictlStopCommand(shellQuote(id), ctx.params.stopTimeoutSeconds ?? 0));
        // Gone already: the kubelet replaced it in the meantime, which is what we want.
        if (r.rc !== 0 && (await runningContainerIds(ctx, name)).includes(id)) {
          throw new KcarunError('E_REMOTE_EXIT', `crictl stop ${id} failed (rc=${r.rc}): ${r.stderr.trim()}`, { host: ctx.host.name, exitCode: r.rc });
        }
      }
    }
  } else {
    // Parked outside the manifests dir (the kubelet reads every file in it).
    const parked = `${manifest.replace(/\/[^/]*$/, '')}/../.kcarun-parked-${name}.yaml`;
    await mustRun(ctx, `mv -f -- ${shellJoin([manifest, parked])}`);
    try {
      await waitForContainers(ctx, name, `${name} to stop`, (ids) => (ids.some((id) => old.includes(id)) ? undefined : true));
    } finally {
      // Whatever happened, the manifest goes back: a missing manifest is a missing control plane.
      await mustRun(ctx, `mv -f -- ${shellJoin([parked, manifest])}`);
    }
  }
  let drained: number | undefined;
  const hook = drainHook(ctx, { drainPort, listenerPid, drainSeconds: ctx.params.stopTimeoutSeconds ?? 0, old, onDrained: (s) => (drained = s) });
  const id = await waitForNewContainer(ctx, name, old, hook);
  const drainNote = drained === undefined ? '' : `; the old one stopped ${ctx.params.stopTimeoutSeconds ?? 0} s after :${ctx.params.drainPort} was closed, ${drained.toFixed(1)} s into the wait`;
  return `${name} restarted${asked === 'auto' ? ` (${strategy})` : ''} (container ${old.join(',') || 'none'} -> ${id}${drainNote})`;
}

export async function runServiceRestart(ctx: Ctx): Promise<TaskOutcome> {
  let summary: string;
  switch (ctx.params.method) {
    case 'systemd':
      summary = await restartSystemd(ctx);
      break;
    case 'static-pod':
      summary = await restartStaticPod(ctx);
      break;
    case 'command':
      await mustRun(ctx, need(ctx, ctx.params.command, 'command'));
      summary = 'restart command ran';
      break;
  }
  await runCheck(ctx);
  return { changed: true, summary, output: { summary } };
}

export async function planServiceRestart(ctx: Ctx): Promise<TaskPlan> {
  const p = ctx.params;
  const commands: string[] = [];
  const component = p.method === 'systemd' ? (p.unit ?? '?') : p.method === 'static-pod' ? (p.container ?? '?') : (p.command ?? '?');
  if (p.method === 'systemd') {
    const unit = need(ctx, p.unit, 'unit');
    if (p.daemonReload ?? true) commands.push('systemctl daemon-reload');
    commands.push(`systemctl restart ${shellQuote(unit)}`);
  } else if (p.method === 'static-pod') {
    const name = need(ctx, p.container, 'container');
    const manifest = p.manifest ?? `/etc/kubernetes/manifests/${name}.yaml`;
    const strategy = p.strategy ?? 'crictl-stop';
    commands.push(
      strategy === 'crictl-stop'
        ? crictlStopCommand(`$(crictl ps --name ${shellQuote(name)} -q)`, p.stopTimeoutSeconds ?? 0)
        : strategy === 'annotation'
          ? `set ${RESTART_ANNOTATION} in ${manifest} (the kubelet replaces the pod)`
          : strategy === 'auto'
            ? `crictl stop (first restart of the pod) or set ${RESTART_ANNOTATION} in ${manifest} (later ones)`
          : `move ${manifest} out and back`,
    );
  } else {
    commands.push(need(ctx, p.command, 'command'));
  }
  if (p.method === 'systemd' && p.drainPort !== undefined) {
    commands.push(`the old ${p.unit ?? '?'} process SIGKILLed ${p.stopTimeoutSeconds ?? 0} s after nothing listens on :${p.drainPort} (instead of systemd's TimeoutStopSec)`);
  }
  if (p.method === 'static-pod' && p.drainPort !== undefined) {
    commands.push(`until a new ${p.container ?? '?'} container runs (an old one the kubelet stops gracefully: crictl stop ${p.stopTimeoutSeconds ?? 0} s after nothing listens on :${p.drainPort})`);
  }
  if (p.check) commands.push(`until ${p.check}`);
  return {
    changed: true,
    summary: `would restart: ${commands.join('; ')}`,
    commands,
    restarts: [{ component, how: p.method }],
    output: { summary: unknownUntilRun(`the restart of ${component}`) },
  };
}
