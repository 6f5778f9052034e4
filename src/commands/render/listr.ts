import { Listr, type ListrTaskWrapper } from 'listr2';
import { redactSecrets } from '../../core/redact.js';
import { terminalText } from '../../core/terminal.js';
import type { Reporter, RunEvent } from '../../engine/events.js';
import { planSummaryLines, runEndLine } from './plain.js';

type Wrapper = ListrTaskWrapper<unknown, never, never>;

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

interface StageView {
  start: Deferred<{ hosts: string[]; skipped: boolean }>;
  end: Deferred<{ status: string; message?: string; durationMs: number }>;
  hostWrappers: Map<string, Wrapper>;
  hostDone: Map<string, Deferred<void>>;
  hostFailed: Map<string, string>;
}

/**
 * The live task list on a terminal: stages, then hosts under the running stage with the task each
 * is on. listr2 only draws: the engine runs the steps and owns the journal, and this reporter
 * mirrors its events into listr2 tasks that wait for them.
 */
export function createListrReporter(write: (text: string) => void): Reporter {
  const stages = new Map<string, StageView>();
  let running: Promise<unknown> | undefined;
  let summary = '';
  let planSummary: string[] = [];
  let dryRun = false;

  const view = (name: string): StageView => {
    let v = stages.get(name);
    if (!v) {
      v = { start: deferred(), end: deferred(), hostWrappers: new Map(), hostDone: new Map(), hostFailed: new Map() };
      stages.set(name, v);
    }
    return v;
  };

  const start = (names: string[], title: string) => {
    const list = new Listr(
      [
        {
          title,
          task: (_ctx, root) =>
            root.newListr(
              names.map((name) => ({
                title: name,
                task: async (_c: unknown, task: Wrapper) => {
                  const v = view(name);
                  const started = await v.start.promise;
                  if (started.skipped) {
                    const end = await v.end.promise;
                    task.skip(`${name} (${end.status === 'done-before' ? 'already done' : `skipped${end.message ? `: ${end.message}` : ''}`})`);
                    return;
                  }
                  return task.newListr(
                    started.hosts.map((host) => ({
                      title: host,
                      task: async (_h: unknown, hostTask: Wrapper) => {
                        v.hostWrappers.set(host, hostTask);
                        const done = v.hostDone.get(host) ?? deferred<void>();
                        v.hostDone.set(host, done);
                        await done.promise;
                        const failure = v.hostFailed.get(host);
                        if (failure) throw new Error(failure);
                      },
                    })),
                    { concurrent: true, exitOnError: true },
                  );
                },
              })),
              { concurrent: false, exitOnError: false },
            ),
        },
      ],
      { renderer: 'default', rendererOptions: { collapseSubtasks: false, showErrorMessage: true }, exitOnError: true },
    );
    running = list.run().catch(() => undefined);
  };

  return {
    emit(raw: RunEvent) {
      // Names, summaries, messages: one line each on the live list, escapes shown, never obeyed.
      const e = forTerminal(raw);
      switch (e.event) {
        case 'run-start':
          dryRun = e.dryRun;
          start(e.stages, `${e.playbook} ${e.version}${e.dryRun ? ' (dry run)' : ''}${e.resumed ? ' (resumed)' : ''}`);
          break;
        case 'stage-start': {
          const v = view(e.stage);
          for (const h of e.hosts) if (!v.hostDone.has(h)) v.hostDone.set(h, deferred());
          v.start.resolve({ hosts: e.hosts, skipped: e.batches.length === 0 || e.hosts.length === 0 });
          break;
        }
        case 'task-start': {
          const w = view(e.stage).hostWrappers.get(e.host);
          if (w) w.output = e.task;
          break;
        }
        case 'task-end': {
          const v = view(e.stage);
          const w = v.hostWrappers.get(e.host);
          if (w) w.output = `${e.task}: ${e.status}${e.summary ? ` — ${redactSecrets(e.summary)}` : ''}`;
          if (e.status === 'failed' && !e.ignored) v.hostFailed.set(e.host, `${e.task}: ${redactSecrets(e.error?.message ?? 'failed')}`);
          break;
        }
        case 'log': {
          if (e.level === 'debug' || !e.stage) break;
          const w = e.host ? view(e.stage).hostWrappers.get(e.host) : undefined;
          if (w) w.output = redactSecrets(e.message);
          break;
        }
        case 'stage-end': {
          const v = view(e.stage);
          v.start.resolve({ hosts: [], skipped: true });
          v.end.resolve({ status: e.status, message: e.message, durationMs: e.durationMs });
          for (const d of v.hostDone.values()) d.resolve();
          break;
        }
        case 'plan-summary':
          planSummary = planSummaryLines(e);
          break;
        case 'run-end':
          summary = runEndLine(e, dryRun);
          // Stages never reached (a failure or an interrupt stopped the run) end as skipped.
          for (const v of stages.values()) {
            v.start.resolve({ hosts: [], skipped: true });
            v.end.resolve({ status: 'skipped', message: 'not reached', durationMs: 0 });
            for (const d of v.hostDone.values()) d.resolve();
          }
          break;
        default:
          break;
      }
    },
    async close() {
      await running;
      for (const l of planSummary) write(`${redactSecrets(l)}
`);
      if (summary) write(`${summary}
`);
    },
  };
}

/** Every string in an event, redacted and made safe for one terminal line. */
function forTerminal<T>(value: T): T {
  if (typeof value === 'string') return terminalText(redactSecrets(value)) as T;
  if (Array.isArray(value)) return value.map(forTerminal) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, forTerminal(v)])) as T;
  return value;
}
