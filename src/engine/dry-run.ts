import { KcarunError } from '../core/errors.js';
import type { HostInfo } from '../core/types.js';
import { unknownUntilRun, type PlannedFile, type PlannedRestart } from '../tasks/define.js';
import type { ExecOptions, ExecResult, FileStat, Transport, WriteFileOptions } from '../transport/types.js';
import type { TransportProvider } from './transports.js';

/**
 * What a dry run knows of the hosts beyond what is on them: every file an earlier planned step
 * would write, with its predicted bytes. Tasks read hosts through overlayTransports(), so a later
 * step plans against the predicted file (two patches of one manifest diff one after the other; the
 * finalize stage's ca-status sees the new CA the switch would have put in place), and the dry run
 * ends with a summary of every change it planned, per host.
 */
export class DryRunWorld {
  private readonly files = new Map<string, Map<string, OverlayFile>>();
  private readonly changes = new Map<string, HostChanges>();

  /** Records a step's planned files (on `host`, the transport the step used) and restarts (on the step's host). */
  record(step: { stage: string; task: string; host: string }, transportHost: string, plan: { files?: PlannedFile[]; restarts?: PlannedRestart[]; gate?: string }): void {
    for (const f of plan.files ?? []) {
      let overlay = this.files.get(transportHost);
      if (!overlay) this.files.set(transportHost, (overlay = new Map()));
      const previous = overlay.get(f.path);
      overlay.set(f.path, { content: f.kind === 'delete' ? null : f.content, deleted: f.kind === 'delete', mode: f.mode ?? previous?.mode, stage: step.stage, task: step.task });
      const changes = this.hostChanges(transportHost);
      const seen = changes.files.get(f.path);
      changes.files.set(f.path, {
        // A file this run creates stays "create" whatever later steps do to it, unless one
        // removes it again: then it only exists during the run (a trust bundle).
        kind: seen?.kind === 'create' || seen?.kind === 'transient' ? (f.kind === 'delete' ? 'transient' : 'create') : f.kind,
        steps: (seen?.steps ?? 0) + 1,
        added: (seen?.added ?? 0) + (f.added ?? 0),
        removed: (seen?.removed ?? 0) + (f.removed ?? 0),
      });
    }
    for (const r of plan.restarts ?? []) {
      const changes = this.hostChanges(step.host);
      changes.restarts.push({ component: r.component, stage: step.stage });
    }
    if (plan.gate) this.hostChanges(step.host).gates.push({ gate: plan.gate, stage: step.stage });
  }

  /** The overlay entry of a host file, if a planned step wrote it. */
  planned(host: string, path: string): OverlayFile | undefined {
    return this.files.get(host)?.get(path);
  }

  /** Per host: the files that would change and the restarts per component, in run order. */
  summary(): PlanSummary {
    const hosts = [...this.changes.entries()].map(([host, c]) => {
      const restarts = new Map<string, number>();
      for (const r of c.restarts) restarts.set(r.component, (restarts.get(r.component) ?? 0) + 1);
      return {
        host,
        files: [...c.files.entries()].map(([path, f]) => ({ path, ...f })).sort((a, b) => a.path.localeCompare(b.path)),
        restarts: [...restarts.entries()].map(([component, count]) => ({ component, count })),
        restartOrder: c.restarts.map((r) => `${r.stage}: ${r.component}`),
        gates: c.gates.length,
      };
    });
    return { hosts: hosts.sort((a, b) => a.host.localeCompare(b.host)) };
  }

  private hostChanges(host: string): HostChanges {
    let c = this.changes.get(host);
    if (!c) this.changes.set(host, (c = { files: new Map(), restarts: [], gates: [] }));
    return c;
  }
}

/** A file's net change over the whole run; `transient`: created and removed again by the run. */
export type SummaryKind = PlannedFile['kind'] | 'transient';

interface OverlayFile {
  /** null: deleted, or bytes only the run can tell (a command makes the file). */
  content: Buffer | null;
  deleted: boolean;
  mode?: number;
  stage: string;
  task: string;
}

interface HostChanges {
  files: Map<string, { kind: SummaryKind; steps: number; added: number; removed: number }>;
  restarts: { component: string; stage: string }[];
  gates: { gate: string; stage: string }[];
}

export interface PlanSummary {
  hosts: {
    host: string;
    files: { path: string; kind: SummaryKind; steps: number; added: number; removed: number }[];
    restarts: { component: string; count: number }[];
    restartOrder: string[];
    gates: number;
  }[];
}

/**
 * The transports a dry run's tasks see: reads go through the world's overlay (a file a planned step
 * wrote reads as predicted), everything else goes to the host. Writes are refused: a plan function
 * that tried one is a bug, and a dry run must not change a host whatever the bug. Commands pass
 * through: plan functions only run commands that read (stat, readlink, etcdctl status, openssl).
 */
export function overlayTransports(inner: TransportProvider, world: DryRunWorld): TransportProvider {
  const wrapped = new Map<string, Transport>();
  return {
    async get(hostName) {
      const t = await inner.get(hostName);
      let w = wrapped.get(hostName);
      if (!w) wrapped.set(hostName, (w = new OverlayTransport(t, world)));
      return w;
    },
    get opened() {
      return inner.opened;
    },
    closeAll: () => inner.closeAll(),
  };
}

class OverlayTransport implements Transport {
  constructor(
    private readonly inner: Transport,
    private readonly world: DryRunWorld,
  ) {}

  get host(): string {
    return this.inner.host;
  }

  exec(command: string, options?: ExecOptions): Promise<ExecResult> {
    return this.inner.exec(command, options);
  }

  async readFile(path: string, options?: { become?: boolean }): Promise<Buffer> {
    const planned = this.world.planned(this.host, path);
    if (!planned) return this.inner.readFile(path, options);
    if (planned.deleted) throw new KcarunError('E_TASK', `cannot read ${path}: the dry run's step "${planned.task}" (${planned.stage}) removes it`, { host: this.host, path });
    if (planned.content === null) {
      throw new KcarunError('E_DRY_RUN', `${path}: its content is known only once step "${planned.task}" (${planned.stage}) has run`, { host: this.host, path });
    }
    return planned.content;
  }

  async stat(path: string, options?: { become?: boolean }): Promise<FileStat | null> {
    const planned = this.world.planned(this.host, path);
    if (!planned) return this.inner.stat(path, options);
    if (planned.deleted) return null;
    const real = await this.inner.stat(path, options).catch(() => null);
    return {
      size: planned.content?.length ?? 0,
      mode: planned.mode ?? real?.mode ?? 0o644,
      uid: real?.uid ?? 0,
      gid: real?.gid ?? 0,
      mtimeMs: Date.now(),
      isFile: true,
      isDirectory: false,
    };
  }

  async writeFile(path: string, _data: string | Buffer, _options?: WriteFileOptions): Promise<void> {
    throw new KcarunError('E_DRY_RUN', `a dry run tried to write ${path}: plan functions must not write to hosts (this is a bug in kcarun)`, { host: this.host, path });
  }

  directFileAccess(options?: { become?: boolean }): boolean {
    // Stat and read (not a shell's sha256sum) see the overlay: a planned upload compares with
    // what an earlier planned step would have put there.
    void options;
    return true;
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  predicted(path: string): Buffer | null | undefined {
    const planned = this.world.planned(this.host, path);
    return planned ? planned.content : undefined;
  }
}

/**
 * The registered output of a planned step whose task cannot predict it: every field reads as a
 * visible placeholder (`etcd_ca.rotate` -> "<unknown until the run: ...>"), so a `when:` or a
 * template downstream evaluates instead of failing on an undefined variable. One level deep:
 * deeper fields of an unknown value are unknown too, and say so by failing with their name.
 */
export function placeholderOutput(task: string, host: string): Record<string, unknown> {
  const value = (key: string) => unknownUntilRun(`${key} of "${task}" on ${host}`);
  return new Proxy({} as Record<string, unknown>, {
    get: (_t, key) => (typeof key === 'string' ? (key === 'toJSON' ? undefined : value(key)) : undefined),
    has: () => true,
    getOwnPropertyDescriptor: (_t, key) => (typeof key === 'string' ? { configurable: true, enumerable: true, writable: false, value: value(key) } : undefined),
    ownKeys: () => [],
  });
}

/** The absolute paths among a leader probe's rendered params (files it makes the host read). */
export function pathsIn(params: unknown): string[] {
  if (typeof params === 'string') return /^\/[^\s]*$/.test(params) ? [params] : [];
  if (Array.isArray(params)) return params.flatMap(pathsIn);
  if (params && typeof params === 'object') return Object.values(params).flatMap(pathsIn);
  return [];
}

/** Which of `paths` a leader probe on `host` would not find on the host as it is now. */
export async function missingOnHost(transports: TransportProvider, host: HostInfo, paths: string[]): Promise<string[]> {
  const t = await transports.get(host.name);
  const missing: string[] = [];
  for (const p of paths) if ((await t.stat(p, { become: host.become }).catch(() => null)) === null) missing.push(p);
  return missing;
}
