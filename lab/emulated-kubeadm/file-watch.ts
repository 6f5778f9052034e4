/**
 * Re-reading files when they change, for the servers whose real counterparts do so: kube-apiserver
 * reloads its serving certificate and its client CA bundles (--client-ca-file,
 * --requestheader-client-ca-file) from disk without a restart, and so does the kubelet's clientCAFile.
 */
import { statSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { errorMessage, logEvent, readText } from '../shared/common.js';

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

  /**
   * Calls onChange with the new contents when any file changed: at once on an inotify event in a
   * file's folder (the real components watch with fsnotify: reloaded within 0.1 s, docs/restarts.md),
   * and every second as well (an event can be missed, a folder can be replaced).
   */
  watch(onChange: (values: string[]) => void): void {
    const check = (): void => {
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
    };
    const names = new Set(this.files.map((f) => basename(f)));
    for (const dir of new Set(this.files.map((f) => dirname(f)))) {
      try {
        // Atomic writes rename a temporary file over the target: watch the folder, not the file.
        watch(dir, { persistent: false }, (_event, name) => {
          if (name === null || names.has(name.toString())) check();
        }).on('error', () => undefined);
      } catch {
        // No inotify here, or none left (fs.inotify.max_user_instances, 128 by default, is one per
        // process: about a hundred emulated nodes use them up): the poll below still sees the change.
      }
    }
    setInterval(check, 1000).unref();
  }
}
