/**
 * Re-reading files when they change, for the servers whose real counterparts do so: kube-apiserver
 * reloads its serving certificate and its client CA bundles (--client-ca-file,
 * --requestheader-client-ca-file) from disk without a restart, and so does the kubelet's clientCAFile.
 */
import { statSync } from 'node:fs';
import { errorMessage, logEvent, readText } from './common.js';

export class WatchedFiles {
  private stamps: string;
  private values: string[];
  private failingSince: number | undefined;

  constructor(private readonly files: string[]) {
    this.values = files.map(readText);
    this.stamps = this.stamp();
  }

  private stamp(): string {
    return this.files.map((f) => {
      try {
        const s = statSync(f);
        return `${s.mtimeMs}:${s.size}:${s.ino}`;
      } catch {
        return 'missing';
      }
    }).join('|');
  }

  get(i: number): string {
    return this.values[i]!;
  }

  /** Calls onChange with the new contents when any file changed (checked every second). */
  watch(onChange: (values: string[]) => void): void {
    setInterval(() => {
      const now = this.stamp();
      if (now === this.stamps) return;
      try {
        const values = this.files.map(readText);
        onChange(values);
        this.values = values;
        this.stamps = now;
        this.failingSince = undefined;
        logEvent('info', 'reload', `reloaded ${this.files.join(', ')}`);
      } catch (err) {
        // A half-written pair (certificate without its key yet): keep serving the old one and retry;
        // only a pair that stays broken for 5 s is an error.
        this.failingSince ??= Date.now();
        const level = Date.now() - this.failingSince > 5000 ? 'error' : 'info';
        logEvent(level, 'reload', `cannot reload ${this.files.join(', ')}: ${errorMessage(err)}`);
        if (level === 'error') this.failingSince = Date.now();
      }
    }, 1000).unref();
  }
}
