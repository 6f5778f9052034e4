/**
 * What a run reports, in order. The JSON reporter prints each as one line (`--output json`); the
 * plain and listr2 reporters render them for people. Events carry no secrets: summaries and error
 * messages pass through redactSecrets before they leave the process.
 */
export type StepStatus = 'ok' | 'changed' | 'failed' | 'skipped' | 'done-before';

export type RunEvent =
  | { event: 'run-start'; runId: string; playbook: string; version: string; stages: string[]; dryRun: boolean; resumed: boolean }
  | { event: 'stage-start'; stage: string; hosts: string[]; batches: string[][]; leader?: { host: string | null; note?: string } }
  | { event: 'batch-start'; stage: string; batch: number; hosts: string[] }
  | { event: 'task-start'; stage: string; task: string; taskIndex: number; host: string; type: string }
  | {
      event: 'task-end';
      stage: string;
      task: string;
      taskIndex: number;
      host: string;
      /** The task type (`wait-healthy`...). */
      type: string;
      status: StepStatus;
      changed: boolean;
      durationMs: number;
      summary?: string;
      diff?: string;
      error?: { code: string; message: string };
      ignored?: boolean;
      /** Host files the step changed (a real run) or would change (a dry run), by path. */
      files?: string[];
    }
  | {
      /** A dry run: one change a step would make (a file, a restart, a command), with diff stats. */
      event: 'planned-change';
      stage: string;
      task: string;
      host: string;
      kind: 'create' | 'modify' | 'mode' | 'delete' | 'restart' | 'command';
      path?: string;
      component?: string;
      command?: string;
      added?: number;
      removed?: number;
    }
  | {
      /** A dry run's last word before run-end: per host, the files that would change and the restarts per component. */
      event: 'plan-summary';
      complete: boolean;
      hosts: {
        host: string;
        files: { path: string; kind: 'create' | 'modify' | 'mode' | 'delete' | 'transient'; steps: number; added: number; removed: number }[];
        restarts: { component: string; count: number }[];
        restartOrder: string[];
        gates: number;
      }[];
    }
  | { event: 'stage-end'; stage: string; status: 'ok' | 'failed' | 'skipped' | 'done-before'; durationMs: number; message?: string }
  | { event: 'rollback-start'; stage: string; steps: number }
  | { event: 'rollback-step'; stage: string; task: string; host: string; status: 'ok' | 'failed' | 'nothing-to-undo'; error?: { code: string; message: string } }
  | { event: 'rollback-end'; stage: string; status: 'ok' | 'failed' }
  | { event: 'log'; level: 'info' | 'warn' | 'debug'; message: string; host?: string; stage?: string }
  | { event: 'run-end'; status: 'succeeded' | 'failed' | 'interrupted' | 'nothing-to-do' | 'planned'; exitCode: number; durationMs: number; changed: number; failed: number; message?: string };

export interface Reporter {
  emit(event: RunEvent): void;
  /** Flush and release the terminal. */
  close(): Promise<void>;
}
