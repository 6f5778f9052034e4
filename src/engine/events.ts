/**
 * What a run reports, in order. The JSON reporter prints each as one line (`--output json`); the
 * plain and listr2 reporters render them for people. Events carry no secrets: summaries and error
 * messages pass through redactSecrets before they leave the process.
 */
export type StepStatus = 'ok' | 'changed' | 'failed' | 'skipped' | 'done-before';

export type RunEvent =
  | { event: 'run-start'; runId: string; playbook: string; version: string; stages: string[]; dryRun: boolean; resumed: boolean }
  | { event: 'plan'; stages: { name: string; hosts: string[]; tasks: string[] }[] }
  | { event: 'stage-start'; stage: string; hosts: string[]; batches: string[][] }
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
