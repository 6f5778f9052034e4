/**
 * `--dry-run` of the stock playbooks on the emulated binary lab (3 nodes), through the real CLI over
 * real SSH — the first thing a user runs against a cluster (README): it exits 0 and passes through
 * every stage the run would run (no stage fails; the stages that do the work are planned, not
 * skipped), nothing changes on any node (files and component processes, plan-check.ts), and it
 * never speaks of rollback or --resume.
 *
 * The same dry runs on the genuine kubeadm cluster live in other-playbooks-real.test.ts (since session
 * 22; they ran here on the emulated kubeadm lab before). rotate-ca's dry run, and its comparison with
 * the real run that follows, live with that real run
 * (one lab and one rotation per layout, to keep CI inside its budget): rotate-kubeadm-real.test.ts
 * (the genuine kubeadm cluster) and rotate-binary-real.test.ts (the hand-installed layout on the real
 * binaries).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labSession, useLab } from './lab-session.js';
import { dryRun, plannedFiles, stageStatuses } from './plan-check.js';

const NODES = ['cp1', 'cp2', 'cp3'];

for (const layout of ['binary'] as const) {
  describe(`--dry-run of every stock playbook on a ${layout} lab`, () => {
    const lab = labSession({ name: `dry-run-${layout}`, ipPrefix: '127.0.62', layout, nodes: 3 });
    useLab(lab, { beforeAll, afterAll });

    it('check-expiry: read-only, exit 0, every host checked for real', async () => {
      const events = await dryRun(lab, 'check-expiry.yaml', ['-e', 'warn_days=1']);
      const checked = events.filter((e) => e.event === 'task-end' && e.stage === 'check-expiry' && e.status === 'ok');
      expect(new Set(checked.map((e) => e.host))).toEqual(new Set(NODES));
      expect(events.filter((e) => e.event === 'planned-change')).toEqual([]);
    }, 300_000);

    it('renew-leaf-certs (forced): detect runs for real, renewal planned on every node', async () => {
      const events = await dryRun(lab, 'renew-leaf-certs.yaml', ['-e', 'force_renewal=true']);
      const statuses = stageStatuses(events);
      expect(statuses['renew-detect']).toBe('ok');
      for (const [stage, status] of Object.entries(statuses)) expect(`${stage}: ${status}`).toBe(`${stage}: ok`);
      const hosts = new Set([...plannedFiles(events)].map((p) => p.split(':')[0]));
      expect(hosts).toEqual(new Set(NODES));
    }, 600_000);

    it('offline-replace: every stage planned (CAs made in the scratch state), nothing stopped', async () => {
      const events = await dryRun(lab, 'offline-replace.yaml', ['-e', 'accept_downtime=true']);
      for (const [stage, status] of Object.entries(stageStatuses(events))) expect(`${stage}: ${status}`).toBe(`${stage}: ok`);
      expect(events.some((e) => e.event === 'planned-change' && e.kind === 'command' && /systemctl stop|crictl|mv /.test(String(e.command)))).toBe(true);
    }, 600_000);

    it('rotate-etcd-ca and rotate-k8s-ca: through every stage of their CA', async () => {
      const etcd = stageStatuses(await dryRun(lab, 'rotate-etcd-ca.yaml'));
      for (const stage of ['detect', 'preflight', 'backup', 'prepare-cas', 'prepare-certs', 'distribute', 'trust-etcd', 'trust-apiserver', 'switch-etcd', 'finalize', 'finalize-check', 'finalize-apiserver', 'finalize-etcd', 'finalize-cleanup', 'post-check']) {
        expect(`${stage}: ${etcd[stage]}`).toBe(`${stage}: ok`);
      }
      expect(etcd['trust-kubelets']).toBe('skipped');
      const k8s = stageStatuses(await dryRun(lab, 'rotate-k8s-ca.yaml'));
      for (const stage of ['detect', 'preflight', 'prepare-cas', 'prepare-certs', 'trust-controller-manager', 'trust-apiserver', 'trust-kubeconfigs', 'trust-kubelets', 'switch-signing', 'switch-control-plane', 'finalize', 'finalize-apiserver', 'finalize-kubelets', 'post-check']) {
        expect(`${stage}: ${k8s[stage]}`).toBe(`${stage}: ok`);
      }
      expect(k8s['trust-etcd']).toBe('skipped');
    }, 900_000);
  });
}
