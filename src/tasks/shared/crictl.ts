import { pollUntil, sleep } from '../../core/async.js';
import { KcarunError, stderrTail } from '../../core/errors.js';
import { shellQuote } from '../../core/shell.js';
import type { ExecResult } from '../../transport/types.js';
import type { TaskContext } from '../define.js';

/**
 * crictl's own line when the command it ran in a container exits non-zero (cri-tools v1.37
 * cmd/crictl/exec.go wraps the error, main.go logs it with logrus): `time="..." level=error
 * msg="execing command in container <id>: command terminated with exit code 1"`. It says only that
 * the command failed, and would push the command's own reason out of a short tail.
 */
export const CRICTL_EXEC_FAILED = /^time="[^"]*" level=(error|fatal) msg="execing command in container /m;

/**
 * crictl's own warnings (logrus, `time="..." level=warning msg="..."`). On a kubeadm node, which has
 * no /etc/crictl.yaml, every crictl call prints some before its error: `Config "/etc/crictl.yaml"
 * does not exist, trying next: ...` (cri-tools v1.37 pkg/common/config.go), `runtime connect using
 * default endpoints: [...]` and `Image connect using default endpoints: [...]`
 * (cmd/crictl/crictl_config.go). All three were seen on the genuine kubeadm lab; they say nothing
 * of why a call failed.
 */
const CRICTL_WARNING = /^time="[^"]*" level=warning msg="/;

/** True for a line crictl itself printed that says nothing of why a call failed (its warnings, its exec wrapper). */
export function isCrictlNoise(line: string): boolean {
  return CRICTL_WARNING.test(line) || CRICTL_EXEC_FAILED.test(line);
}

/**
 * The running containers named `name` on the host (`crictl ps --name NAME -q`), as ids. crictl gives
 * up on a runtime that does not answer within its 2 s connect timeout (seen on a loaded node:
 * "validate CRI v1 runtime API ... context deadline exceeded"), so a failed call is tried again,
 * 3 times 1 s apart. Errors: E_REMOTE_EXIT naming crictl's last stderr lines.
 */
export async function runningContainerIds(ctx: TaskContext<{ become?: boolean }>, name: string): Promise<string[]> {
  let r: ExecResult | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (attempt > 0) await sleep(1000, ctx.signal);
    r = await ctx.transport.exec(`crictl ps --name ${shellQuote(name)} -q`, { become: ctx.params.become, signal: ctx.signal });
    if (r.rc === 0) return r.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
  }
  throw new KcarunError('E_REMOTE_EXIT', `crictl ps failed 3 times (rc=${r!.rc}): ${stderrTail(r!.stderr, { lines: 2, separator: ' | ', skip: isCrictlNoise })}`, { host: ctx.host.name, exitCode: r!.rc });
}

/**
 * Polls the running containers named `name` until `pick(ids)` returns a value (not undefined), every
 * `pollSeconds` for up to `timeoutSeconds`. A runtime too slow to answer is polled again, not fatal.
 * `meanwhile`, when given, runs at every poll with the ids seen, before `pick` (drainHook below).
 * Errors: E_TIMEOUT "`what` did not happen within N s (last: ...)" naming the containers seen last.
 */
export async function waitForContainers<T>(
  ctx: TaskContext<{ become?: boolean; timeoutSeconds?: number; pollSeconds?: number }>,
  name: string,
  what: string,
  pick: (ids: string[]) => T | undefined,
  meanwhile?: (ids: string[]) => Promise<void>,
): Promise<T> {
  const seconds = ctx.params.timeoutSeconds ?? 120;
  return pollUntil<T>(
    async () => {
      let ids: string[];
      try {
        ids = await runningContainerIds(ctx, name);
      } catch (err) {
        return { state: (err as Error).message };
      }
      if (meanwhile) await meanwhile(ids);
      const picked = pick(ids);
      return picked !== undefined ? { done: picked } : { state: ids.length ? `running: ${ids.join(',')}` : 'no container running' };
    },
    {
      timeoutMs: seconds * 1000,
      intervalMs: (ctx.params.pollSeconds ?? 1) * 1000,
      signal: ctx.signal,
      timeoutError: (last) => new KcarunError('E_TIMEOUT', `${what} did not happen within ${seconds} s (last: ${last})`, { host: ctx.host.name }),
    },
  );
}

/**
 * `crictl stop` of the container `idArg` (a shell word the caller made: quoted id or `$(...)`), `stopSeconds` between SIGTERM
 * and SIGKILL. crictl bounds the StopContainer call by its global `--timeout` (default 2 s) plus the
 * stop timeout, then fails with DeadlineExceeded while containerd is still stopping the container
 * (k8s.io/cri-client remote_runtime.go StopContainer; on the real lab at load ~30, 2 + 5 s were not
 * enough for kube-apiserver's graceful stop, session 11). A minute more covers the SIGKILL and the
 * runtime's cleanup. `--timeout=` is written joined: a global flag, before the subcommand.
 */
export function crictlStopCommand(idArg: string, stopSeconds: number): string {
  return `crictl --timeout=${stopSeconds + 60}s stop --timeout ${stopSeconds} ${idArg}`;
}

/**
 * Whether anything listens on TCP `port` (any address) in the host's network namespace
 * (`ss -Hltn 'sport = :PORT'`), or with `pid`, whether that process does (`ss -p`; a hostile-input
 * review found a listener of another process on the same port kept the drain from ever acting):
 * true, false, or null when it cannot tell (no `ss`, an error).
 */
export async function portListening(ctx: TaskContext<{ become?: boolean }>, port: number, pid?: number): Promise<boolean | null> {
  const r = await ctx.transport.exec(`ss -Hltn${pid === undefined ? '' : 'p'} ${shellQuote(`sport = :${port}`)}`, { become: ctx.params.become, signal: ctx.signal });
  if (r.rc !== 0) return null;
  const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
  // With the listener's pid: that process's own sockets, so another process on the same port (a load
  // balancer or VIP bound to another address of the host, the emulated lab's other nodes) does not
  // hide the close. Where ss shows no process (not root), any listener counts.
  if (pid === undefined || !lines.some((l) => l.includes('users:('))) return lines.length > 0;
  return lines.some((l) => l.includes(`pid=${pid},`));
}

/**
 * The host pid of the running container `id` (`crictl inspect ID`: info.pid, the container's init
 * process, numbered in containerd's pid namespace, the host's, which is also what `ss -p` shows over
 * SSH; kube-apiserver is its container's init), or undefined when crictl cannot say (gone, another
 * runtime's JSON, an error).
 */
export async function containerPid(ctx: TaskContext<{ become?: boolean }>, id: string): Promise<number | undefined> {
  const r = await ctx.transport.exec(`crictl inspect ${shellQuote(id)}`, { become: ctx.params.become, signal: ctx.signal });
  if (r.rc !== 0) return undefined;
  try {
    const pid = (JSON.parse(r.stdout) as { info?: { pid?: unknown } }).info?.pid;
    return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The pid through which a drain watches the container `ids` (one running container) close TCP
 * `port`: its process, and only when `ss` shows that very process listening now. Undefined (no
 * drain: the kubelet's grace period stands) when there is not exactly one container, crictl cannot
 * give its pid, or that pid does not listen there: another process on the port (an haproxy or VIP on
 * the same port of another address, the emulated lab's other nodes) must not look like our
 * component, and a component not listening yet must not look drained (review of session 20).
 */
export async function listeningContainerPid(ctx: TaskContext<{ become?: boolean }>, ids: string[], port: number): Promise<number | undefined> {
  if (ids.length !== 1) return undefined;
  const pid = await containerPid(ctx, ids[0]!);
  if (pid === undefined) return undefined;
  return (await portListening(ctx, port, pid)) === true ? pid : undefined;
}

/**
 * A `meanwhile` hook for waitForContainers that shortens a graceful stop the kubelet began (a hold,
 * a changed manifest, a restart annotation) to what the component needs. The kubelet gives a
 * stopping container its pod's grace period (30 s for kubeadm's static pods). kube-apiserver uses all
 * of it: on SIGTERM it fails /readyz and closes its listener at once (kubeadm sets no
 * --shutdown-delay-duration) and drains its in-flight requests, but its HTTP server's Shutdown then
 * waits for the long-running watch connections until its 60-s ShutdownTimeout
 * (k8s.io/apiserver@v0.37.2 pkg/server/genericapiserver.go:585-626, 716-744), so the kubelet SIGKILLs
 * it at 30 s (measured 31.5-36 s per stop, docs/restarts.md). Once nothing listens on `drainPort` any
 * more while one of `old` still runs (proof that the kubelet's SIGTERM arrived: kcarun never stops
 * the container before the kubelet does, so the kubelet cannot restart the old spec), kcarun lets
 * `drainSeconds` pass for the in-flight requests, then stops it once with `crictl stop --timeout 0`
 * (SIGKILL, what the kubelet sends at the end of the grace period; not a second SIGTERM, which
 * kube-apiserver takes as "exit now": k8s.io/apiserver pkg/server/signal.go). The watch clients
 * reconnect to another apiserver either way. The close is watched on the old container's own process
 * (`listenerPid`, listeningContainerPid), so another process on the same port neither hides it nor
 * fakes it; a host where `ss` cannot tell keeps the kubelet's grace period. `onDrained` gets the
 * seconds from the hook's making to the stop. Undefined when `drainPort` or `listenerPid` is unset.
 */
export function drainHook(
  ctx: TaskContext<{ become?: boolean }>,
  opts: { drainPort?: number; listenerPid?: number; drainSeconds: number; old: string[]; onDrained?: (seconds: number) => void },
): ((ids: string[]) => Promise<void>) | undefined {
  const { drainPort, old } = opts;
  if (drainPort === undefined || opts.listenerPid === undefined || old.length === 0) return undefined;
  const t0 = Date.now();
  let stopping: string[] = [];
  const step = portDrain(
    ctx,
    drainPort,
    opts.drainSeconds,
    async () => {
      for (const id of stopping) {
        // Gone in the meantime is fine: that is what the wait is for.
        await ctx.transport.exec(crictlStopCommand(shellQuote(id), 0), { become: ctx.params.become, signal: ctx.signal });
      }
    },
    opts.listenerPid,
  );
  let done = false;
  return async (ids) => {
    stopping = ids.filter((id) => old.includes(id));
    if (done || stopping.length === 0) return;
    if ((await step()) === 'stopped') {
      done = true;
      opts.onDrained?.((Date.now() - t0) / 1000);
    }
  };
}

/**
 * The drain's clock, shared by the static-pod hook above and service-restart's systemd restart:
 * called once per poll while the old process still runs (after its stop began), it notes when
 * nothing listens on `port` any more, and once `drainSeconds` have passed since then it calls `stop`
 * (once). Each call answers 'waiting', 'stopped' (stop ran, now or before), or 'unknown' (`ss`
 * cannot tell: the caller keeps the component's own grace period).
 */
export function portDrain(
  ctx: TaskContext<{ become?: boolean }>,
  port: number,
  drainSeconds: number,
  stop: () => Promise<void>,
  listenerPid?: number,
): () => Promise<'waiting' | 'stopped' | 'unknown'> {
  let closedAt: number | undefined;
  let stopped = false;
  return async () => {
    if (stopped) return 'stopped';
    if (closedAt === undefined) {
      const listening = await portListening(ctx, port, listenerPid);
      if (listening === null) return 'unknown';
      if (listening) return 'waiting';
      closedAt = Date.now();
    }
    if (Date.now() - closedAt < drainSeconds * 1000) return 'waiting';
    stopped = true;
    await stop();
    return 'stopped';
  };
}
