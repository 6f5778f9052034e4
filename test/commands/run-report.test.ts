import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withRunReport } from '../../src/commands/render/run-report.js';
import type { RunEvent } from '../../src/engine/events.js';
import { makeTempDir } from '../helpers/task-context.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-report-'));
});
afterEach(async () => cleanup());

describe('run report', () => {
  it("lists ca-generate's kubeadm join hashes (old and new) with the warning about joins pinning the old one", async () => {
    const seen: RunEvent[] = [];
    let t = 1_000;
    const reporter = withRunReport({ emit: (e) => void seen.push(e), close: async () => {} }, dir, () => (t += 100));
    const summary =
      'new CA kubernetes-ca (CN=kubernetes (rotated 2026-11-30)); kubeadm discovery-token-ca-cert-hash sha256:' + 'b'.repeat(64) + ' (old CA: sha256:' + 'a'.repeat(64) + ')';
    reporter.emit({ event: 'run-start', runId: 'r1', playbook: 'rotate-ca', version: '1', stages: ['generate'], dryRun: false, resumed: false });
    reporter.emit({ event: 'task-end', stage: 'generate', task: 'new Kubernetes CA', taskIndex: 0, host: 'local', type: 'ca-generate', status: 'changed', changed: true, durationMs: 50, summary });
    reporter.emit({ event: 'task-end', stage: 'generate', task: 'skipped CA', taskIndex: 1, host: 'local', type: 'ca-generate', status: 'skipped', changed: false, durationMs: 0, summary: 'when: false' });
    reporter.emit({ event: 'stage-end', stage: 'generate', status: 'ok', durationMs: 60 });
    reporter.emit({ event: 'run-end', status: 'succeeded', exitCode: 0, durationMs: 300, changed: 1, failed: 0 });
    await reporter.close();
    expect(seen).toHaveLength(5);
    const json = JSON.parse(await readFile(join(dir, 'report/report.json'), 'utf8')) as { cas: Array<{ stage: string; task: string; summary: string }> };
    expect(json.cas).toEqual([{ stage: 'generate', host: 'local', task: 'new Kubernetes CA', summary }]);
    const md = await readFile(join(dir, 'report/report.md'), 'utf8');
    expect(md).toContain('## CAs and kubeadm join hashes (1)\n');
    expect(md).toContain("kubeadm join commands that pin an old CA's `--discovery-token-ca-cert-hash` stop working after finalize: use the new hash.");
    expect(md).toContain(`| generate | new Kubernetes CA | ${summary} |`);
  });
});
