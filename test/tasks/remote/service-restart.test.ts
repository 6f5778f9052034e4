import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KcarunError } from '../../../src/core/errors.js';
import { serviceRestartTask } from '../../../src/tasks/service-restart/index.js';
import { staticPodHoldTask } from '../../../src/tasks/static-pod-hold/index.js';
import { makeTempDir } from '../../helpers/task-context.js';
import { startRemoteEnv, type RemoteEnv } from './remote-env.js';

type Params = Parameters<typeof serviceRestartTask.run>[0]['params'];

/** A TCP port nothing listens on now (the kernel's pick for a listener on 127.0.0.1, closed again). */
async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * There is no systemd or kubelet in the test machine, so the sshd's PATH gets two small stand-ins
 * that manage real processes: `systemctl` (restart starts a new process after a delay, so the
 * task must wait) and `crictl` + a kubelet-like loop that (re)starts the static pod's process while
 * its manifest exists. The task only sees their command-line behaviour, as on a real node.
 */
const SYSTEMCTL = `#!/bin/sh
S="$EMU_STATE"; unit=$(eval echo \\\${$#}); unit=\${unit%.service}
case "$1" in
  daemon-reload) echo reload >> "$S/calls" ;;
  restart)
    if [ "$unit" = sdrainer ]; then
      # as systemd's stop job: SIGTERM, wait for the main process to end, SIGKILL after
      # TimeoutStopSec ($GRACE s here), then the start
      p=$(cat "$S/sdrainer.pid" 2>/dev/null); i=0
      if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
        kill -TERM "$p"
        while kill -0 "$p" 2>/dev/null && [ $i -lt $((GRACE * 10)) ]; do sleep 0.1; i=$((i+1)); done
        if kill -0 "$p" 2>/dev/null; then echo "SIGKILL after TimeoutStopSec" > "$S/sdrainer.end"; kill -9 "$p"; fi
      fi
      setsid "$NODE" "$DRAINER" "$(cat "$S/sdrainer.port")" "$S/sdrainer.end" </dev/null >/dev/null 2>&1 & echo $! > "$S/sdrainer.pid"
      exit 0
    fi
    [ -f "$S/$unit.pid" ] && kill "$(cat "$S/$unit.pid")" 2>/dev/null; rm -f "$S/$unit.pid"
    (sleep 0.6; setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > "$S/$unit.pid.tmp"; mv "$S/$unit.pid.tmp" "$S/$unit.pid") </dev/null >/dev/null 2>&1 &
    if [ "$unit" = broken ]; then echo "Job for broken.service failed" >&2; exit 1; fi ;;
  is-active) if [ -f "$S/$unit.pid" ] && kill -0 "$(cat "$S/$unit.pid")" 2>/dev/null; then echo active; else echo activating; exit 3; fi ;;
  show) cat "$S/$unit.pid" 2>/dev/null || echo 0 ;;
esac
`;
const CRICTL = `#!/bin/sh
S="$EMU_STATE"; echo "$*" >> "$S/crictl-calls"
case "$1" in --timeout=*) shift ;; esac
case "$1" in
  ps) if [ "$2" = --id ]; then
        for f in "$S"/pod-*.cid; do [ "$(cat "$f")" = "$3" ] && printf '{"containers":[{"id":"%s","metadata":{"attempt":%s}}]}' "$3" "$(cat "\${f%.cid}.attempt" 2>/dev/null || echo 0)"; done; exit 0
      fi
      name=$3; [ -f "$S/pod-$name.cid" ] && cat "$S/pod-$name.cid"; exit 0 ;;
  inspect) for f in "$S"/pod-*.cid; do [ "$(cat "$f")" = "$2" ] && printf '{"status":{"createdAt":"%s"},"info":{"pid":%s}}' "$(cat "\${f%.cid}.created" 2>/dev/null)" "$(cat "\${f%.cid}.pid")" && exit 0; done; exit 1 ;;
  stop) [ "$2" = --timeout ] && shift 2
    for f in "$S"/pod-*.cid; do [ "$(cat "$f")" = "$2" ] && p=$(cat "\${f%.cid}.pid") && echo restart > "\${f%.cid}.why" && kill "$p" && exit 0; done; echo "container $2 not found" >&2; exit 1 ;;
esac
`;
// The "kubelet": runs a process per manifest in $MANIFESTS, restarts it when stopped (the pod's next
// attempt), stops it when the manifest goes, and replaces the pod (attempt 0 again) when the
// manifest's content changes, as the real kubelet does with a new pod UID. A new container's id file
// is written last, by a rename: whoever sees it sees the attempt and checksum of that container (a
// reader between the id and the attempt once read the previous attempt on a loaded machine).
// `crictl stop` notes why before it kills and leaves the id file to the kubelet: when it killed,
// removed the id, then noted why, a kubelet pass in between restarted the pod as attempt 0 (CI-
// equivalent run, session 11, load ~30).
const KUBELET = `#!/bin/sh
S="$EMU_STATE"; n=0
while :; do
  for name in etcd kube-apiserver kube-scheduler; do
    m="$MANIFESTS/$name.yaml"; pidf="$S/pod-$name.pid"; cid="$S/pod-$name.cid"; att="$S/pod-$name.attempt"; sum="$S/pod-$name.sum"
    if [ -f "$m" ] && [ -f "$cid" ] && [ "$(cksum < "$m")" != "$(cat "$sum")" ]; then kill "$(cat "$pidf")" 2>/dev/null; rm -f "$cid" "$att"; fi
    if [ -f "$m" ] && ! { [ -f "$cid" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; }; then
      a=0; [ -f "$S/pod-$name.why" ] && a=$(( $(cat "$att" 2>/dev/null || echo 0) + 1 )); rm -f "$S/pod-$name.why"
      sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > "$pidf"; n=$((n+1)); date -u +%Y-%m-%dT%H:%M:%S.%NZ > "$S/pod-$name.created"; echo $a > "$att"; cksum < "$m" > "$sum"; echo "c$n$name" > "$cid.tmp"; mv "$cid.tmp" "$cid"
    elif [ ! -f "$m" ] && [ -f "$cid" ]; then kill "$(cat "$pidf")" 2>/dev/null; rm -f "$cid"
    fi
  done
  # "drainer": a pod whose process behaves as kube-apiserver does on SIGTERM (it closes its listener and
  # keeps running); the kubelet stops it as the real one does: SIGTERM, the container listed until
  # the process exits, SIGKILL after the grace period ($GRACE s).
  m="$MANIFESTS/drainer.yaml"; pidf="$S/pod-drainer.pid"; cid="$S/pod-drainer.cid"; term="$S/pod-drainer.term"
  if [ -f "$m" ] && [ ! -f "$cid" ]; then
    rm -f "$term" "$S/drainer.end"; "$NODE" "$DRAINER" "$(cat "$S/drainer.port")" "$S/drainer.end" </dev/null >/dev/null 2>&1 & echo $! > "$pidf"
    n=$((n+1)); echo "c$n""drainer" > "$cid.tmp"; mv "$cid.tmp" "$cid"
  elif [ ! -f "$m" ] && [ -f "$cid" ]; then
    if ! kill -0 "$(cat "$pidf")" 2>/dev/null; then rm -f "$cid"
    elif [ ! -f "$term" ]; then kill -TERM "$(cat "$pidf")"; date +%s > "$term"
    elif [ $(( $(date +%s) - $(cat "$term") )) -ge "$GRACE" ]; then echo "SIGKILL at the end of the grace period" > "$S/drainer.end"; kill -9 "$(cat "$pidf")"
    fi
  fi
  sleep 0.1
done
`;
// The drainer pod's process: listens on 127.0.0.1:PORT; the first SIGTERM closes the listener (as
// kube-apiserver's does), a second one (crictl stop's) ends it and notes why.
const DRAINER = `const net = require('node:net'), fs = require('node:fs');
const [port, end] = process.argv.slice(2);
const server = net.createServer((c) => c.destroy()).listen(Number(port), '127.0.0.1');
let terms = 0;
process.on('SIGTERM', () => {
  if (++terms === 1) return server.close();
  fs.writeFileSync(end, 'stopped by a second SIGTERM\\n');
  process.exit(0);
});
setInterval(() => {}, 1000);
`;

describe('service-restart', () => {
  let env: RemoteEnv;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let kubelet: ChildProcess;
  let state: string;
  let manifests: string;
  let drainerPort: number;
  let sdrainerPort: number;

  beforeAll(async () => {
    tmp = await makeTempDir('kcarun-svc-');
    const bin = join(tmp.dir, 'bin');
    state = join(tmp.dir, 'state');
    manifests = join(tmp.dir, 'manifests');
    await Promise.all([mkdir(bin), mkdir(state), mkdir(manifests)]);
    drainerPort = await freePort();
    await writeFile(join(state, 'drainer.port'), String(drainerPort));
    sdrainerPort = await freePort();
    await writeFile(join(state, 'sdrainer.port'), String(sdrainerPort));
    await writeFile(join(bin, 'drainer.cjs'), DRAINER);
    for (const [name, text] of [['systemctl', SYSTEMCTL], ['crictl', CRICTL], ['kubelet', KUBELET]] as const) {
      await writeFile(join(bin, name), text);
      await chmod(join(bin, name), 0o755);
    }
    await writeFile(join(manifests, 'etcd.yaml'), 'kind: Pod\n');
    await writeFile(join(manifests, 'kube-apiserver.yaml'), 'kind: Pod\n');
    await writeFile(join(manifests, 'kube-scheduler.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-scheduler\n  namespace: kube-system\nspec:\n  containers: []\n');
    kubelet = spawn(join(bin, 'kubelet'), [], { env: { ...process.env, EMU_STATE: state, MANIFESTS: manifests, DRAINER: join(bin, 'drainer.cjs'), NODE: process.execPath, GRACE: '8' }, stdio: 'ignore' });
    env = await startRemoteEnv({ extraConfig: [`SetEnv PATH=${bin}:/usr/sbin:/usr/bin:/sbin:/bin EMU_STATE=${state} SHLVL=1 GRACE=8 NODE=${process.execPath} DRAINER=${join(bin, 'drainer.cjs')}`] });
  });
  afterAll(async () => {
    await env?.stop();
    kubelet?.kill('SIGKILL');
    // Stop every process the stand-ins started, by the pids they recorded.
    const { readdir } = await import('node:fs/promises');
    for (const f of (await readdir(state).catch(() => [])).filter((f) => f.endsWith('.pid'))) {
      const pid = Number(await readFile(join(state, f), 'utf8').catch(() => ''));
      if (pid > 1) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    await tmp?.cleanup();
  });

  const waitForListener = async (port: number): Promise<void> => {
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const c = connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); }).on('error', () => resolve(false));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`nothing listens on 127.0.0.1:${port}`);
  };
  const run = async (params: Params, changedInStage: string[] = []) => serviceRestartTask.run(await env.ctx(params, { changedInStage }));
  const waitForFile = async (path: string) => {
    for (let i = 0; i < 100 && !(await readFile(path, 'utf8').catch(() => '')); i++) await new Promise((r) => setTimeout(r, 50));
    return (await readFile(path, 'utf8')).trim();
  };

  it('systemd: daemon-reload, restart, then waits until active with a new MainPID', async () => {
    await run({ method: 'systemd', unit: 'etcd.service' });
    const pid1 = await waitForFile(join(state, 'etcd.pid'));
    const r = await run({ method: 'systemd', unit: 'etcd.service', pollSeconds: 0.1 });
    const pid2 = (await readFile(join(state, 'etcd.pid'), 'utf8')).trim();
    expect(pid2).not.toBe(pid1);
    expect(r.summary).toBe(`etcd.service restarted (MainPID ${pid1} -> ${pid2})`);
    expect((await readFile(join(state, 'calls'), 'utf8')).trim().split('\n').length).toBeGreaterThanOrEqual(2);
  });

  it('systemd with drainPort: once the old process closed its port (systemd\'s SIGTERM arrived), kcarun SIGKILLs it after the drain instead of waiting out TimeoutStopSec; without drainPort, TimeoutStopSec stands', async () => {
    const end = join(state, 'sdrainer.end');
    // the unit's first start (no old process yet: nothing to drain)
    await run({ method: 'systemd', unit: 'sdrainer', daemonReload: false });
    await waitForListener(sdrainerPort);
    const pid1 = await waitForFile(join(state, 'sdrainer.pid'));
    // Another process on the same port, bound to another address (a load balancer or VIP on the
    // host): the close of the unit's own listener still counts (ss -p, by its MainPID).
    const other = createServer((c) => c.destroy());
    await new Promise<void>((resolve) => other.listen(sdrainerPort, '127.0.0.2', resolve));
    let t0 = Date.now();
    const drained = await run({ method: 'systemd', unit: 'sdrainer', daemonReload: false, drainPort: sdrainerPort, stopTimeoutSeconds: 1, pollSeconds: 0.2 }).finally(() => other.close());
    const fast = (Date.now() - t0) / 1000;
    const pid2 = await waitForFile(join(state, 'sdrainer.pid'));
    expect(drained.summary).toMatch(new RegExp(`^sdrainer restarted \\(MainPID ${pid1} -> ${pid2}; the old one stopped 1 s after :${sdrainerPort} was closed, [0-9.]+ s into the restart\\)$`));
    expect(fast).toBeLessThan(6);
    // the stand-in's own SIGKILL (its TimeoutStopSec) did not come: kcarun's did
    expect(await readFile(end, 'utf8').catch(() => '')).toBe('');
    await waitForListener(sdrainerPort);
    t0 = Date.now();
    const plain = await run({ method: 'systemd', unit: 'sdrainer', daemonReload: false, pollSeconds: 0.2 });
    expect(plain.summary).toMatch(/^sdrainer restarted \(MainPID \d+ -> \d+\)$/);
    expect((Date.now() - t0) / 1000).toBeGreaterThanOrEqual(8);
    expect(await readFile(end, 'utf8')).toBe('SIGKILL after TimeoutStopSec\n');
  }, 60_000);

  it('systemd: a failing restart is E_REMOTE_EXIT with its stderr', async () => {
    const err = (await run({ method: 'systemd', unit: 'broken', daemonReload: false }).catch((e: unknown) => e)) as KcarunError;
    expect(err.code).toBe('E_REMOTE_EXIT');
    expect(err.message).toContain('Job for broken.service failed');
  });

  it('static pod: crictl stop, then waits for a new container id', async () => {
    const before = await waitForFile(join(state, 'pod-etcd.cid'));
    const r = await run({ method: 'static-pod', container: 'etcd', pollSeconds: 0.1 });
    const after = (await readFile(join(state, 'pod-etcd.cid'), 'utf8')).trim();
    expect(after).not.toBe(before);
    expect(r.summary).toBe(`etcd restarted (container ${before} -> ${after})`);
  });

  it('static pod, manifest changed earlier in the stage: a pod the kubelet already replaced is not restarted again (one restart, not two)', async () => {
    const manifest = join(manifests, 'etcd.yaml');
    const stops = async () => (await readFile(join(state, 'crictl-calls'), 'utf8')).split('\n').filter((l) => /^(--timeout=\S+ )?stop /.test(l)).length;
    const replaceBySpecChange = async (content: string) => {
      const before = await waitForFile(join(state, 'pod-etcd.cid'));
      await writeFile(manifest, content);
      for (let i = 0; i < 100 && (await readFile(join(state, 'pod-etcd.cid'), 'utf8').catch(() => before)).trim() === before; i++) await new Promise((r) => setTimeout(r, 50));
      return waitForFile(join(state, 'pod-etcd.cid'));
    };
    // As a file-patch step of the stage would: the manifest is written, the kubelet replaces the pod at once.
    const replaced = await replaceBySpecChange('kind: Pod\n# --trusted-ca-file=bundle\n');
    const stopsBefore = await stops();
    const r = await run({ method: 'static-pod', container: 'etcd', manifest, pollSeconds: 0.1 }, [manifest]);
    expect(r.summary).toBe(`etcd replaced by the kubelet after this stage's manifest change (container ${replaced})`);
    expect(await stops()).toBe(stopsBefore);
    expect((await readFile(join(state, 'pod-etcd.cid'), 'utf8')).trim()).toBe(replaced);
    // The same situation without the stage's change on record (the manifest changed long ago): a restart.
    const again = await replaceBySpecChange('kind: Pod\n');
    const r2 = await run({ method: 'static-pod', container: 'etcd', manifest, pollSeconds: 0.1 });
    expect(r2.summary).toMatch(new RegExp(`^etcd restarted \\(container ${again} -> c\\d+etcd\\)$`));
    expect(await stops()).toBe(stopsBefore + 1);
  });

  it('static pod: moves the manifest out and back, and the manifest is back afterwards', async () => {
    const before = await waitForFile(join(state, 'pod-kube-apiserver.cid'));
    const manifest = join(manifests, 'kube-apiserver.yaml');
    const r = await run({ method: 'static-pod', container: 'kube-apiserver', strategy: 'move-manifest', manifest, pollSeconds: 0.1, check: `test -f ${manifest}` });
    expect(r.summary).toMatch(new RegExp(`^kube-apiserver restarted \\(container ${before} -> c\\d+kube-apiserver\\)$`));
    expect(await readFile(manifest, 'utf8')).toBe('kind: Pod\n');
  });

  it('static pod, annotation: a new kcarun.io/restarted-at value in the manifest makes the kubelet replace the pod', async () => {
    const manifest = join(manifests, 'kube-scheduler.yaml');
    const before = await waitForFile(join(state, 'pod-kube-scheduler.cid'));
    const r = await run({ method: 'static-pod', container: 'kube-scheduler', strategy: 'annotation', manifest, pollSeconds: 0.1 });
    const after = (await readFile(join(state, 'pod-kube-scheduler.cid'), 'utf8')).trim();
    expect(after).not.toBe(before);
    expect(r.summary).toBe(`kube-scheduler restarted (container ${before} -> ${after})`);
    const text = await readFile(manifest, 'utf8');
    expect(text).toMatch(/^metadata:\n {2}name: kube-scheduler\n {2}namespace: kube-system\n {2}annotations:\n {4}kcarun\.io\/restarted-at: \d{4}-\d\d-\d\dT[\d:.]+Z\n/m);
    expect(text).toContain('spec:\n  containers: []\n');
  });

  it('static pod, auto: crictl stop (with the grace period) for the pod\'s first container, the annotation once it was restarted', async () => {
    const manifest = join(manifests, 'kube-scheduler.yaml');
    // The previous test replaced the pod: attempt 0.
    const first = await waitForFile(join(state, 'pod-kube-scheduler.cid'));
    const text0 = await readFile(manifest, 'utf8');
    const r1 = await run({ method: 'static-pod', container: 'kube-scheduler', strategy: 'auto', stopTimeoutSeconds: 7, manifest, pollSeconds: 0.1 });
    expect(r1.summary).toMatch(new RegExp(`^kube-scheduler restarted \\(crictl-stop\\) \\(container ${first} -> c\\d+kube-scheduler\\)$`));
    expect(await readFile(manifest, 'utf8')).toBe(text0);
    // crictl's own deadline (its global --timeout, default 2 s, plus the stop's) outlasts the stop.
    expect(await readFile(join(state, 'crictl-calls'), 'utf8')).toContain(`--timeout=67s stop --timeout 7 ${first}`);
    expect((await readFile(join(state, 'pod-kube-scheduler.attempt'), 'utf8')).trim()).toBe('1');
    const r2 = await run({ method: 'static-pod', container: 'kube-scheduler', strategy: 'auto', manifest, pollSeconds: 0.1 });
    expect(r2.summary).toMatch(/^kube-scheduler restarted \(annotation\)/);
    expect(await readFile(manifest, 'utf8')).not.toBe(text0);
  });

  it('static-pod-hold: hold stops the pod (manifest set aside as a dot-file), is resumable, rolls back; release brings it back and is a no-op when nothing is held', async () => {
    const manifest = join(manifests, 'kube-apiserver.yaml');
    const held = join(manifests, '.kube-apiserver.yaml.kcarun-held');
    const content = await readFile(manifest, 'utf8');
    const hold = async (action: 'hold' | 'release') => staticPodHoldTask.run(await env.ctx({ action, container: 'kube-apiserver', manifest, pollSeconds: 0.1, timeoutSeconds: 20 }));
    const cid = () => readFile(join(state, 'pod-kube-apiserver.cid'), 'utf8').then((t) => t.trim(), () => null);
    const running = await waitForFile(join(state, 'pod-kube-apiserver.cid'));

    const h = await hold('hold');
    expect(h.changed).toBe(true);
    expect(h.summary).toBe(`kube-apiserver held: ${manifest} set aside as ${held}, no container running`);
    expect(await cid()).toBeNull();
    expect(await readFile(manifest).catch(() => null)).toBeNull();
    expect(await readFile(held, 'utf8')).toBe(content);
    // kcarun killed after the rename, resumed: the held copy says where it stands.
    expect((await hold('hold')).summary).toMatch(/^kube-apiserver already held: /);

    const r = await hold('release');
    expect(r.changed).toBe(true);
    const back = await cid();
    expect(back).not.toBeNull();
    expect(back).not.toBe(running);
    expect(r.summary).toBe(`kube-apiserver released: ${manifest} back, container ${back} running`);
    expect(await readFile(manifest, 'utf8')).toBe(content);
    expect(await readFile(held).catch(() => null)).toBeNull();
    const again = await hold('release');
    expect(again.changed).toBe(false);
    expect(again.summary).toBe(`kube-apiserver was not held (container ${back} running)`);

    // A completed hold is undone by the step's rollback (the stage failed later on).
    const undo = (await hold('hold')).undo;
    await staticPodHoldTask.rollback!(await env.ctx({ action: 'hold', container: 'kube-apiserver', manifest, pollSeconds: 0.1, timeoutSeconds: 20 }), undo);
    expect(await readFile(manifest, 'utf8')).toBe(content);
    expect(await cid()).not.toBeNull();

    // A completed release is undone by holding the pod again (without edits: the same bytes); a
    // release that found nothing held recorded nothing to undo.
    expect((await hold('release')).undo).toBeUndefined();
    await hold('hold');
    const released = await hold('release');
    expect(released.undo).toEqual({ released: manifest });
    await staticPodHoldTask.rollback!(await env.ctx({ action: 'release', container: 'kube-apiserver', manifest, pollSeconds: 0.1, timeoutSeconds: 20 }), released.undo);
    expect(await readFile(manifest).catch(() => null)).toBeNull();
    expect(await readFile(held, 'utf8')).toBe(content);
    expect(await cid()).toBeNull();
    await hold('release');

    // Both files (someone restored the manifest while held): hold refuses, release keeps the manifest.
    await writeFile(held, content);
    const err = (await hold('hold').catch((e: unknown) => e)) as KcarunError;
    expect(err.code).toBe('E_TASK');
    expect(err.message).toBe(`both ${manifest} and its held copy ${held} exist: keep the one that is current and remove the other`);
    expect((await hold('release')).changed).toBe(true);
    expect(await readFile(held).catch(() => null)).toBeNull();
    expect(await readFile(manifest, 'utf8')).toBe(content);
  });

  it('static-pod-hold with drainPort: once the held component\'s own process closed its port (the kubelet\'s SIGTERM arrived), kcarun stops it instead of waiting out its grace period, even with another process on that port; without drainPort, or with a port the component did not listen on before, the grace period stands', async () => {
    const manifest = join(manifests, 'drainer.yaml');
    const end = join(state, 'drainer.end');
    const hold = async (action: 'hold' | 'release', extra: { drainPort?: number } = {}) =>
      staticPodHoldTask.run(await env.ctx({ action, container: 'drainer', manifest, pollSeconds: 0.2, timeoutSeconds: 30, stopTimeoutSeconds: 2, ...extra }));
    const stops = async () => (await readFile(join(state, 'crictl-calls'), 'utf8').catch(() => '')).split('\n').filter((l) => / stop --timeout 0 c\d+drainer$/.test(l)).length;
    await writeFile(manifest, 'kind: Pod\n');
    await waitForFile(join(state, 'pod-drainer.cid'));
    await waitForListener(drainerPort);

    const before = await stops();
    const h = await hold('hold', { drainPort: drainerPort });
    expect(h.summary).toMatch(new RegExp(`^drainer held: .* no container running \\(stopped 2 s after :${drainerPort} was closed, [0-9.]+ s after the manifest was set aside\\)$`));
    expect(await stops()).toBe(before + 1);
    expect(await readFile(end, 'utf8')).toBe('stopped by a second SIGTERM\n');

    // Without drainPort: the kubelet's grace period, kcarun stops nothing.
    await hold('release');
    await waitForListener(drainerPort);
    const plain = await hold('hold');
    expect(plain.summary).not.toMatch(/stopped/);
    expect(await stops()).toBe(before + 1);
    expect(await readFile(end, 'utf8')).toBe('SIGKILL at the end of the grace period\n');

    // A port nothing listened on before the hold (a component still starting, a wrong port): a closed
    // port proves nothing, so kcarun stops nothing.
    await hold('release');
    await waitForListener(drainerPort);
    const unused = await hold('hold', { drainPort: await freePort() });
    expect(unused.summary).not.toMatch(/stopped/);
    expect(await stops()).toBe(before + 1);
    expect(await readFile(end, 'utf8')).toBe('SIGKILL at the end of the grace period\n');

    // Another process listens on the same port (another address: an haproxy or VIP on the node): the
    // close is watched on the container's own process (crictl inspect's pid, ss -p), so the other
    // listener neither hides it nor stands in for it.
    await hold('release');
    await waitForListener(drainerPort);
    const other = createServer().listen(drainerPort, '127.0.0.2');
    await once(other, 'listening');
    try {
      const busy = await hold('hold', { drainPort: drainerPort });
      expect(busy.summary).toMatch(new RegExp(`\\(stopped 2 s after :${drainerPort} was closed, [0-9.]+ s after the manifest was set aside\\)$`));
      expect(await stops()).toBe(before + 2);
      expect(await readFile(end, 'utf8')).toBe('stopped by a second SIGTERM\n');
    } finally {
      other.close();
      await hold('release');
    }
    await rm(manifest);
  }, 90_000);

  it('static-pod-hold release with edits: the manifest comes back with its flags changed (backed up, planned, undone); a write cut short is finished; a hold refuses edits', async () => {
    await env.fresh();
    const manifest = join(manifests, 'kube-apiserver.yaml');
    const held = join(manifests, '.kube-apiserver.yaml.kcarun-held');
    const original = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\nspec:\n  containers:\n  - name: kube-apiserver\n    command:\n    - kube-apiserver\n    - --etcd-cafile=/pki/etcd/ca.crt\n    - --etcd-servers=https://127.0.0.1:2379\n';
    await writeFile(manifest, original);
    const cid = () => readFile(join(state, 'pod-kube-apiserver.cid'), 'utf8').then((t) => t.trim(), () => null);
    const edits = [{ op: 'set-flag' as const, in: 'manifest' as const, flag: 'etcd-cafile', value: '/pki/etcd/ca-bundle.crt' }];
    const params = (action: 'hold' | 'release', withEdits: boolean) => ({ action, container: 'kube-apiserver', manifest, pollSeconds: 0.1, timeoutSeconds: 20, ...(withEdits ? { edits } : {}) });
    const edited = original.replace('--etcd-cafile=/pki/etcd/ca.crt', '--etcd-cafile=/pki/etcd/ca-bundle.crt');
    for (let i = 0; i < 50 && !(await cid()); i++) await new Promise((r) => setTimeout(r, 100));

    // A hold refuses edits before it touches anything.
    const refused = (await staticPodHoldTask.run(await env.ctx(params('hold', true))).catch((e: unknown) => e)) as KcarunError;
    expect(refused.code).toBe('E_SCHEMA');
    expect(await readFile(manifest, 'utf8')).toBe(original);

    // The dry run plans the manifest's change with its diff, and changes nothing.
    const plan = await staticPodHoldTask.dryRun!(await env.ctx(params('release', true)));
    expect(plan.files).toEqual([expect.objectContaining({ path: manifest, kind: 'modify', content: Buffer.from(edited), added: 1, removed: 1 })]);
    expect(plan.diff).toContain('+    - --etcd-cafile=/pki/etcd/ca-bundle.crt');
    expect(plan.summary).toContain('with --etcd-cafile=/pki/etcd/ca-bundle.crt');
    expect(await readFile(manifest, 'utf8')).toBe(original);

    await staticPodHoldTask.run(await env.ctx(params('hold', false)));
    expect(await cid()).toBeNull();
    const r = await staticPodHoldTask.run(await env.ctx(params('release', true)));
    expect(r.changed).toBe(true);
    expect(r.files).toEqual([manifest]);
    expect(r.diff).toContain('+    - --etcd-cafile=/pki/etcd/ca-bundle.crt');
    expect(await readFile(manifest, 'utf8')).toBe(edited);
    expect(await readFile(held).catch(() => null)).toBeNull();
    const back = await cid();
    expect(back).not.toBeNull();
    expect(r.summary).toBe(`kube-apiserver released: ${manifest} back with --etcd-cafile=/pki/etcd/ca-bundle.crt, container ${back} running`);

    // The step's rollback holds the pod again, the manifest's bytes from before the step in the held
    // copy: it stays out of service until the stage's rollback list releases it (on the old bytes).
    await staticPodHoldTask.rollback!(await env.ctx(params('release', true)), r.undo);
    expect(await readFile(manifest).catch(() => null)).toBeNull();
    expect(await readFile(held, 'utf8')).toBe(original);
    expect(await cid()).toBeNull();
    await staticPodHoldTask.run(await env.ctx(params('release', false)));
    expect(await readFile(manifest, 'utf8')).toBe(original);
    expect(await cid()).not.toBeNull();

    // kcarun killed after writing the edited manifest, before removing the held copy: the resumed
    // release finishes (held copy gone) and still records the change, so a rollback can undo it.
    await staticPodHoldTask.run(await env.ctx(params('hold', false)));
    await writeFile(manifest, edited);
    const resumed = await staticPodHoldTask.run(await env.ctx(params('release', true)));
    expect(resumed.changed).toBe(true);
    expect(resumed.files).toEqual([manifest]);
    expect(await readFile(held).catch(() => null)).toBeNull();
    await staticPodHoldTask.rollback!(await env.ctx(params('release', true)), resumed.undo);
    expect(await readFile(held, 'utf8')).toBe(original);
    await staticPodHoldTask.run(await env.ctx(params('release', false)));
    expect(await readFile(manifest, 'utf8')).toBe(original);
    await writeFile(manifest, 'kind: Pod\n');
  });

  it('command: runs the restart command and polls the check until it passes, or times out', async () => {
    const flag = join(tmp.dir, 'healthy');
    const r = await run({ method: 'command', command: `(sleep 0.5; touch ${flag}) >/dev/null 2>&1 &`, check: `test -f ${flag}`, pollSeconds: 0.1 });
    expect(r.changed).toBe(true);
    const err = (await run({ method: 'command', command: 'true', check: 'false', timeoutSeconds: 1, pollSeconds: 0.2 }).catch((e: unknown) => e)) as KcarunError;
    expect(err.code).toBe('E_TIMEOUT');
    expect(err.message).toContain('check `false`');
  });

  it('dry-run lists the commands without running them', async () => {
    const pid = (await readFile(join(state, 'etcd.pid'), 'utf8')).trim();
    const plan = await serviceRestartTask.dryRun!(await env.ctx<Params>({ method: 'systemd', unit: 'etcd' }));
    expect(plan.commands).toEqual(['systemctl daemon-reload', 'systemctl restart etcd']);
    expect((await readFile(join(state, 'etcd.pid'), 'utf8')).trim()).toBe(pid);
  });
});
