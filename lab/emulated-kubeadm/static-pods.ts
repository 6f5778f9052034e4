/**
 * The kubelet's static pod runner: (re)starts a pod when its manifest in staticPodPath appears or
 * changes, stops it when the file goes, and restarts a pod whose process died (restartPolicy Always,
 * which is also how `crictl stop` leads to a restart). Pod records live in the node's run/pods folder
 * so crictl can list them and a restarted kubelet adopts the pods that are still running.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { LAB_DIR, NODE, errorMessage, logEvent } from '../shared/common.js';
import { isAlive, randomId, spawnDetached, stopPid } from '../stand-ins/procs.js';

export interface PodRecord {
  pod: string;
  container: string;
  id: string;
  pid: number;
  hash: string;
  manifest: string;
  startedAt: string;
  attempt: number;
  /** Set by `crictl stop`: the kubelet restarts such a container at once, without back-off. */
  stopRequestedAt?: string;
}

export const podsDir = (node = NODE): string => join(LAB_DIR, 'nodes', node, 'run', 'pods');

export function readPodRecords(node = NODE): PodRecord[] {
  const dir = podsDir(node);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .flatMap((f) => {
      try {
        return [JSON.parse(readFileSync(join(dir, f), 'utf8')) as PodRecord];
      } catch {
        return [];
      }
    });
}

export function writeRecord(r: PodRecord): void {
  mkdirSync(podsDir(), { recursive: true });
  writeFileSync(join(podsDir(), `${r.pod}.json`), JSON.stringify(r));
}

interface Desired {
  pod: string;
  container: string;
  argv: string[];
  hash: string;
  manifest: string;
}

function readManifests(dir: string): Map<string, Desired> {
  const desired = new Map<string, Desired>();
  if (!existsSync(dir)) return desired;
  for (const f of readdirSync(dir).sort()) {
    if (!/\.(ya?ml|json)$/.test(f) || f.startsWith('.')) continue;
    const path = join(dir, f);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      continue;
    }
    try {
      const doc = parse(text) as { metadata?: { name?: string }; spec?: { containers?: Array<{ name?: string; command?: string[]; args?: string[] }> } };
      const c = doc.spec?.containers?.[0];
      const name = doc.metadata?.name;
      if (!name || !c?.command?.length) throw new Error('no metadata.name or spec.containers[0].command');
      const pod = `${name}-${NODE}`;
      desired.set(pod, { pod, container: c.name ?? name, argv: [...c.command, ...(c.args ?? [])], hash: createHash('sha256').update(text).digest('hex'), manifest: path });
    } catch (err) {
      logEvent('error', 'static-pod', `could not read static pod manifest ${path}: ${errorMessage(err)}`);
    }
  }
  return desired;
}

export class StaticPodRunner {
  private readonly records = new Map<string, PodRecord>();
  private readonly lastDeath = new Map<string, number>();
  private busy = false;

  constructor(private readonly manifestDir: string) {
    // Adopt the pods of a previous kubelet: containers survive a kubelet restart.
    for (const r of readPodRecords()) this.records.set(r.pod, r);
  }

  private start(d: Desired, attempt: number): void {
    const pid = spawnDetached(d.argv, join(LAB_DIR, 'nodes', NODE, 'logs', 'pods', `${d.pod}.log`));
    const r: PodRecord = { pod: d.pod, container: d.container, id: randomId(), pid, hash: d.hash, manifest: d.manifest, startedAt: new Date().toISOString(), attempt };
    this.records.set(d.pod, r);
    writeRecord(r);
    logEvent('info', 'static-pod', `started ${d.pod} (pid ${pid}, attempt ${attempt})`);
  }

  private async stop(pod: string): Promise<void> {
    const r = this.records.get(pod);
    if (r) await stopPid(r.pid);
    this.records.delete(pod);
    rmSync(join(podsDir(), `${pod}.json`), { force: true });
  }

  async sync(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const desired = readManifests(this.manifestDir);
      for (const pod of [...this.records.keys()]) {
        if (!desired.has(pod)) {
          logEvent('info', 'static-pod', `manifest removed: stopping ${pod}`);
          await this.stop(pod);
        }
      }
      for (const d of desired.values()) {
        const r = this.records.get(d.pod);
        if (!r) {
          this.start(d, 0);
        } else if (r.hash !== d.hash) {
          logEvent('info', 'static-pod', `manifest changed: restarting ${d.pod}`);
          await this.stop(d.pod);
          this.start(d, 0);
        } else if (!isAlive(r.pid)) {
          // Crash loop back-off like the kubelet's (1 s doubling per quick crash, capped at 10 s
          // instead of 5 min so a lab recovers quickly once the manifest is fixed).
          const died = this.lastDeath.get(d.pod) ?? Date.now();
          this.lastDeath.set(d.pod, died);
          const crashedQuickly = died - Date.parse(r.startedAt) < 10_000;
          const stoppedOnPurpose = readPodRecords().find((x) => x.pod === d.pod)?.stopRequestedAt !== undefined;
          const backoff = stoppedOnPurpose ? 0 : crashedQuickly ? Math.min(1000 * 2 ** Math.min(r.attempt, 4), 10_000) : 1000;
          if (Date.now() - died >= backoff) {
            this.lastDeath.delete(d.pod);
            this.start(d, r.attempt + 1);
          }
        }
      }
    } finally {
      this.busy = false;
    }
  }

  /** Stops every pod (used only when the lab goes down; a plain kubelet stop leaves pods running). */
  async stopAll(): Promise<void> {
    for (const pod of [...this.records.keys()]) await this.stop(pod);
  }
}
