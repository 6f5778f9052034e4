import { pollUntil } from '../../core/async.js';
import { KcarunError, stderrTail } from '../../core/errors.js';
import { shellJoin, shellQuote } from '../../core/shell.js';
import type { ExecResult } from '../../transport/types.js';
import { unknownUntilRun, type TaskContext, type TaskOutcome, type TaskPlan } from '../define.js';
import type { ServiceRestartParams } from './schema.js';

type Ctx = TaskContext<ServiceRestartParams>;

function need<T>(ctx: Ctx, value: T | undefined, name: string): T {
  if (value === undefined) throw new KcarunError('E_SCHEMA', `service-restart method ${ctx.params.method} needs \`${name}\``, { host: ctx.host.name });
  return value;
}

async function sh(ctx: Ctx, command: string): Promise<ExecResult> {
  return ctx.transport.exec(command, { become: ctx.params.become, signal: ctx.signal });
}

async function mustRun(ctx: Ctx, command: string): Promise<ExecResult> {
  const res = await sh(ctx, command);
  if (res.rc !== 0) {
    const tail = stderrTail(res.stderr);
    throw new KcarunError('E_REMOTE_EXIT', `command exited ${res.rc}: ${command}${tail ? `\n${tail}` : ''}`, { host: ctx.host.name, command, exitCode: res.rc, stderrTail: tail });
  }
  return res;
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

async function restartSystemd(ctx: Ctx): Promise<string> {
  const unit = need(ctx, ctx.params.unit, 'unit');
  const before = await mainPid(ctx, unit);
  if (ctx.params.daemonReload ?? true) await mustRun(ctx, 'systemctl daemon-reload');
  await mustRun(ctx, `systemctl restart ${shellQuote(unit)}`);
  const pid = await waitFor<number | undefined>(ctx, `${unit} active with a new main process`, async () => {
    const active = (await sh(ctx, `systemctl is-active ${shellQuote(unit)}`)).stdout.trim();
    if (active !== 'active') return { state: active || 'unknown' };
    if (before === undefined) return { done: undefined };
    const now = await mainPid(ctx, unit);
    return now !== undefined && now !== 0 && now !== before ? { done: now } : { state: `active, MainPID still ${now}` };
  });
  return pid === undefined ? `${unit} restarted (active)` : `${unit} restarted (MainPID ${before} -> ${pid})`;
}

// ---- static pods (kubelet) ----

async function containerIds(ctx: Ctx, name: string): Promise<string[]> {
  const r = await sh(ctx, `crictl ps --name ${shellQuote(name)} -q`);
  if (r.rc !== 0) throw new KcarunError('E_REMOTE_EXIT', `crictl ps failed (rc=${r.rc}): ${r.stderr.trim()}`, { host: ctx.host.name, exitCode: r.rc });
  return r.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
}

async function waitForNewContainer(ctx: Ctx, name: string, old: string[]): Promise<string> {
  return waitFor<string>(ctx, `a new ${name} container`, async () => {
    const ids = await containerIds(ctx, name);
    const fresh = ids.find((id) => !old.includes(id));
    return fresh ? { done: fresh } : { state: ids.length ? `still ${ids.join(',')}` : 'no container running' };
  });
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
async function kubeletWillReplace(ctx: Ctx, name: string, ids: string[]): Promise<boolean> {
  if (ids.length === 0) return false;
  const manifest = ctx.params.manifest ?? `/etc/kubernetes/manifests/${name}.yaml`;
  const [mtime, created] = await Promise.all([manifestMtimeMs(ctx, manifest), containerCreatedMs(ctx, ids[0]!)]);
  return mtime !== null && created !== null && mtime > created;
}

async function restartStaticPod(ctx: Ctx): Promise<string> {
  const name = need(ctx, ctx.params.container, 'container');
  const old = await containerIds(ctx, name);
  if ((ctx.params.strategy ?? 'crictl-stop') === 'crictl-stop') {
    if (old.length === 0) ctx.log.warn(`no running ${name} container; waiting for the kubelet to start one`);
    if (await kubeletWillReplace(ctx, name, old)) {
      ctx.log.info(`${name}: the manifest changed after the container started; waiting for the kubelet to replace it`);
    } else {
      for (const id of old) {
        const r = await sh(ctx, `crictl stop ${shellQuote(id)}`);
        // Gone already: the kubelet replaced it in the meantime, which is what we want.
        if (r.rc !== 0 && (await containerIds(ctx, name)).includes(id)) {
          throw new KcarunError('E_REMOTE_EXIT', `crictl stop ${id} failed (rc=${r.rc}): ${r.stderr.trim()}`, { host: ctx.host.name, exitCode: r.rc });
        }
      }
    }
  } else {
    const manifest = ctx.params.manifest ?? `/etc/kubernetes/manifests/${name}.yaml`;
    // Parked outside the manifests dir (the kubelet reads every file in it).
    const parked = `${manifest.replace(/\/[^/]*$/, '')}/../.kcarun-parked-${name}.yaml`;
    await mustRun(ctx, `mv -f -- ${shellJoin([manifest, parked])}`);
    try {
      await waitFor(ctx, `${name} to stop`, async () => {
        const ids = await containerIds(ctx, name);
        return ids.some((id) => old.includes(id)) ? { state: `still ${ids.join(',')}` } : { done: true };
      });
    } finally {
      // Whatever happened, the manifest goes back: a missing manifest is a missing control plane.
      await mustRun(ctx, `mv -f -- ${shellJoin([parked, manifest])}`);
    }
  }
  const id = await waitForNewContainer(ctx, name, old);
  return `${name} restarted (container ${old.join(',') || 'none'} -> ${id})`;
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
    commands.push((p.strategy ?? 'crictl-stop') === 'crictl-stop' ? `crictl stop $(crictl ps --name ${shellQuote(name)} -q)` : `move ${p.manifest ?? `/etc/kubernetes/manifests/${name}.yaml`} out and back`);
  } else {
    commands.push(need(ctx, p.command, 'command'));
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
