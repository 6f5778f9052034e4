/**
 * The stock rotation, end to end, on a 3-node kubeadm lab with traffic running throughout:
 * preflight refuses a planted cert/key mismatch without touching a host; then the rotation is
 * killed (-9) at 5 seeded random points and resumed each time; it ends with zero failed requests,
 * zero component errors, every certificate on the new CAs (the kubelet's client pair behind
 * kubelet-client-current.pem included: a new timestamped file, same key, link swapped), etcd data
 * intact; run again, it is a no-op that says so.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, statSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectCleanRotation, FAST_GATES, labSession, PLAYBOOKS, runStatus, useLab } from './lab-session.js';

const lab = labSession({ name: 'kubeadm', ipPrefix: '127.0.51', layout: 'kubeadm', nodes: 3 });
const rotate = (...extra: string[]) => [join(PLAYBOOKS, 'rotate-ca.yaml'), '-i', lab.inventory, '--yes', ...FAST_GATES, ...extra];

/** sha256 of every file under the nodes' /etc/kubernetes and /var/lib/kubelet: "did anything change?" */
function clusterFiles(): Map<string, string> {
  const sums = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const s = statSync(p);
      if (s.isDirectory()) walk(p);
      else if (s.isFile()) sums.set(p, createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  for (const node of readdirSync(join(lab.dir, 'nodes'))) {
    for (const sub of ['etc/kubernetes', 'var/lib/kubelet']) walk(join(lab.dir, 'nodes', node, 'fs', sub));
  }
  return sums;
}

const kubeletPki = (node: string): string => join(lab.dir, 'nodes', node, 'fs/var/lib/kubelet/pki');

/** Per node: the file kubelet-client-current.pem names, its bytes, certificate and mode. */
function kubeletClientPairs(): Map<string, { link: string; bytes: Buffer; cert: X509Certificate; mode: number }> {
  const out = new Map<string, { link: string; bytes: Buffer; cert: X509Certificate; mode: number }>();
  for (const node of readdirSync(join(lab.dir, 'nodes'))) {
    const link = readlinkSync(join(kubeletPki(node), 'kubelet-client-current.pem'));
    const bytes = readFileSync(join(kubeletPki(node), link));
    out.set(node, { link, bytes, cert: new X509Certificate(bytes), mode: statSync(join(kubeletPki(node), link)).mode & 0o777 });
  }
  return out;
}

describe('rotate-ca on a kubeadm lab', () => {
  useLab(lab, { beforeAll, afterAll });

  it('preflight refuses a cert/key mismatch and changes no file on any host', async () => {
    const pki = join(lab.dir, 'nodes', 'cp2', 'fs', 'etc', 'kubernetes', 'pki');
    const original = readFileSync(join(pki, 'apiserver.key'));
    copyFileSync(join(pki, 'apiserver-kubelet-client.key'), join(pki, 'apiserver.key'));
    try {
      const before = clusterFiles();
      const res = await lab.kcarun(rotate('--state-dir', join(lab.work, 'refused-state')));
      expect(res.code, res.stdout + res.stderr).toBe(1);
      expect(res.stdout).toMatch(/cp2.*apiserver\.crt.*(does not match|mismatch)/i);
      expect(clusterFiles()).toEqual(before);
    } finally {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(join(pki, 'apiserver.key'), original);
    }
  }, 120_000);

  it('rotates every CA with zero failed requests, through 5 kill -9 and resumes', async () => {
    // The planted mismatch of the previous test made cp2's apiserver log reload errors (as a real
    // one with dynamic certificate reload would): count from a fresh traffic window.
    await new Promise((r) => setTimeout(r, 6000));
    await lab.trafficStop();
    await lab.trafficStart();
    const pairsBefore = kubeletClientPairs();
    let seed = 7;
    const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    const stateDir = join(lab.work, '.kcarun');
    const completedSteps = async () => (await runStatus(lab, stateDir)).steps.ok;
    for (let kill = 0; kill < 5; kill++) {
      const before = await completedSteps();
      const run = lab.start(rotate(...(kill > 0 ? ['--resume'] : [])));
      // Once this run has made progress of its own, somewhere in the next stretch: restarts, gates
      // and uploads all get hit.
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline && (await completedSteps()) <= before && run.child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 3_000 + random() * 20_000));
      run.child.kill('SIGKILL');
      const res = await run.done;
      // A run that ended by itself before the kill must have succeeded; its output is the failure message.
      expect(res.signal === 'SIGKILL' || res.code === 0, `run ${kill + 1} exited ${res.code}:\n${res.stdout.slice(-6000)}\n${res.stderr.slice(-2000)}`).toBe(true);
      const status = await runStatus(lab, stateDir);
      console.log(`[e2e] kill -9 #${kill + 1}: ${status.steps.ok} steps done, in flight: ${status.steps.inFlight.join(', ') || 'none'}`);
      if (res.code === 0) break;
    }
    const final = await lab.kcarun(rotate('--resume'));
    expect(final.code, final.stdout.slice(-3000) + final.stderr).toBe(0);
    await expectCleanRotation(lab, 'kubeadm rotation with 5 kill -9');
    // The kubelet's client pair (kubelet.conf -> kubelet-client-current.pem): a new timestamped file
    // from the new CA with the same key, the link swapped, the old pair untouched for a rollback.
    const pairsAfter = kubeletClientPairs();
    for (const [node, before] of pairsBefore) {
      const after = pairsAfter.get(node)!;
      expect(after.link, node).not.toBe(before.link);
      expect(after.link, node).toMatch(/^kubelet-client-\d{4}(-\d\d){5}\.pem$/);
      expect(readFileSync(join(kubeletPki(node), before.link)), node).toEqual(before.bytes);
      expect(after.cert.verify(new X509Certificate(readFileSync(join(lab.dir, 'nodes', node, 'fs/etc/kubernetes/pki/ca.crt'))).publicKey), node).toBe(true);
      expect(after.cert.subject, node).toBe(before.cert.subject);
      expect(after.cert.publicKey.export({ type: 'spki', format: 'der' }), node).toEqual(before.cert.publicKey.export({ type: 'spki', format: 'der' }));
      expect(after.mode, node).toBe(0o600);
    }
  }, 1_500_000);

  it('run again, is a no-op that says so (read from the hosts, not the journal)', async () => {
    const res = await lab.kcarun(rotate('--fresh'));
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/etcd-ca: already rotated/);
    expect(res.stdout).toMatch(/kubernetes-ca: already rotated/);
    expect(res.stdout).toMatch(/nothing to do/);
    expect(res.stdout).toMatch(/0 changed/);
  }, 120_000);
});
