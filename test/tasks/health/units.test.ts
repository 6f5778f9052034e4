/** Pure parts of the health tasks: etcd JSON ids, the stability window, rollout rules, host matching. */
import { describe, expect, it } from 'vitest';
import { etcdctlStderr, parseEtcdJson } from '../../../src/tasks/shared/etcdctl.js';
import { pollUntilStable } from '../../../src/core/async.js';
import { rolloutPending } from '../../../src/tasks/kube-rollout-restart/run.js';
import { holderHostname, matchHost } from '../../../src/tasks/shared/match-host.js';
import { checkKubeNodes } from '../../../src/tasks/shared/kube-nodes.js';
import { makeHost } from '../../helpers/task-context.js';
import { KcarunError } from '../../../src/core/errors.js';

describe('parseEtcdJson', () => {
  it('keeps uint64 member ids exact (JSON.parse alone would round them)', () => {
    const doc = parseEtcdJson('[{"Status":{"header":{"member_id":15243180169245561464,"revision":115},"leader":15243180169245561464,"raftIndex":122}}]') as Array<{ Status: { header: { member_id: string; revision: number }; leader: string; raftIndex: number } }>;
    expect(doc[0]!.Status.header.member_id).toBe('15243180169245561464');
    expect(doc[0]!.Status.leader).toBe('15243180169245561464');
    expect(doc[0]!.Status.raftIndex).toBe(122);
    expect(doc[0]!.Status.header.revision).toBe(115);
  });
});

describe('etcdctlStderr', () => {
  it('keeps the tool reason and drops etcdctl info logs and crictl exec wrapper line', () => {
    // What a failed etcdctl run through `crictl exec` leaves on stderr on a kubeadm node (etcd 3.6, cri-tools v1.37).
    const stderr = [
      '{"level":"info","ts":"2026-12-04T05:01:02Z","caller":"flags/flag.go:113","msg":"recognized and used environment variable"}',
      '{"level":"warn","ts":"2026-12-04T05:01:05Z","caller":"clientv3/retry_interceptor.go:62","msg":"retrying of unary invoker failed"}',
      'Error: context deadline exceeded',
      'time="2026-12-04T05:01:05Z" level=error msg="execing command in container 3f2a9c: command terminated with exit code 1"',
      '',
    ].join('\n');
    const tail = etcdctlStderr({ rc: 1, stdout: '', stderr }, 1);
    expect(tail).toBe('Error: context deadline exceeded');
    expect(etcdctlStderr({ rc: 1, stdout: '', stderr })).not.toMatch(/execing command|"level":"info"/);
  });

  it('says a file was not visible in the etcd container only when the tool ran there', () => {
    const missing = 'Error: open /etc/prometheus/ssl/etcd-ca.crt: no such file or directory\n';
    const wrapper = 'time="2026-12-04T05:01:05Z" level=error msg="execing command in container 3f2a9c: command terminated with exit code 1"\n';
    const inContainer = etcdctlStderr({ rc: 1, stdout: '', stderr: missing + wrapper });
    expect(inContainer).toMatch(/^Error: open \/etc\/prometheus\/ssl\/etcd-ca\.crt: no such file or directory \| \/etc\/prometheus\/ssl\/etcd-ca\.crt is not visible inside the etcd container/);
    expect(inContainer).toContain('/etc/kubernetes/pki/etcd');
    // On a host with its own etcdctl, the same error is only the error.
    expect(etcdctlStderr({ rc: 1, stdout: '', stderr: missing })).toBe('Error: open /etc/prometheus/ssl/etcd-ca.crt: no such file or directory');
  });

  it("drops crictl's own warnings, which precede every etcdctl error on a kubeadm node without /etc/crictl.yaml", () => {
    // As seen on the genuine kubeadm lab (cri-tools v1.37, etcd 3.6), an etcd probe given a CA etcd's certificates do not chain to.
    const stderr = [
      'time="2026-12-04T12:52:46Z" level=warning msg="Image connect using default endpoints: [unix:///run/containerd/containerd.sock unix:///run/crio/crio.sock unix:///var/run/cri-dockerd.sock]. As the default settings are now deprecated, you should set the endpoint instead."',
      '{"level":"warn","ts":"2026-12-04T12:52:56.459657Z","logger":"etcd-client","msg":"retrying of unary invoker failed","error":"rpc error: code = DeadlineExceeded desc = latest balancer error: connection error: desc = \\"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority\\""}',
      'Error: context deadline exceeded',
      'time="2026-12-04T12:52:56Z" level=error msg="execing command in container 3f2a9c: command terminated with exit code 1"',
    ].join('\n');
    const tail = etcdctlStderr({ rc: 1, stdout: '', stderr });
    expect(tail).not.toMatch(/default endpoints|execing command/);
    // The runtime endpoint's warning, spelt in lower case (cri-tools v1.37 crictl_config.go).
    const runtime = stderr.replace('msg="Image connect', 'msg="runtime connect');
    expect(etcdctlStderr({ rc: 1, stdout: '', stderr: runtime })).toBe(tail);
    // crictl looking for its config file (cri-tools v1.37 pkg/common/config.go), also seen there.
    const config = `time="2026-12-04T13:15:09Z" level=warning msg="Config \\"/etc/crictl.yaml\\" does not exist, trying next: \\"/usr/local/bin/crictl.yaml\\""\n${runtime}`;
    expect(etcdctlStderr({ rc: 1, stdout: '', stderr: config })).toBe(tail);
    expect(tail).toMatch(/x509: certificate signed by unknown authority.* \| Error: context deadline exceeded$/);
  });
});

describe('pollUntilStable', () => {
  it('needs N successes in a row: a failure resets the streak', async () => {
    const script = [true, true, false, true, true, true];
    let i = 0;
    const r = await pollUntilStable({ host: 'cp1', probe: 'p' }, { timeoutSeconds: 10, intervalSeconds: 0.01, successes: 3 }, async () => {
      if (!script[i++]) throw new Error('flap');
    });
    expect(r.attempts).toBe(6);
  });

  it('times out naming the host, the probe and the last error', async () => {
    let clock = 0;
    const err = await pollUntilStable(
      { host: 'cp2', probe: 'etcd' },
      { timeoutSeconds: 0.05, intervalSeconds: 0.01, successes: 2 },
      async () => {
        clock += 20;
        throw new Error(`member cp3 down at ${clock}`);
      },
      undefined,
      () => clock,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KcarunError);
    expect((err as KcarunError).code).toBe('E_TIMEOUT');
    expect((err as KcarunError).message).toMatch(/^cp2: probe etcd not healthy within 0\.05 s \(2 consecutive successes needed, \d attempts\); last error: member cp3 down at \d+$/);
  });

  it('cuts off an attempt that hangs (a paused host) at the deadline and aborts its signal', async () => {
    let aborted: unknown;
    const t0 = Date.now();
    const err = await pollUntilStable({ host: 'cp3', probe: 'tcp' }, { timeoutSeconds: 0.3, intervalSeconds: 0.05, successes: 1, minAttemptSeconds: 0 }, (_streak, signal) =>
      new Promise<void>(() => signal.addEventListener('abort', () => (aborted = signal.reason))),
    ).catch((e: unknown) => e as KcarunError);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect((err as KcarunError).message).toBe('cp3: probe tcp not healthy within 0.3 s (1 consecutive successes needed, 1 attempts); last error: an attempt was cut off after 0.3 s, past the 0.3 s deadline');
    expect(aborted).toBeInstanceOf(Error);
  });

  it('keeps the last real failure when the final attempt is cut off', async () => {
    let n = 0;
    const err = await pollUntilStable({ host: 'cp1', probe: 'kube' }, { timeoutSeconds: 0.3, intervalSeconds: 0.01, successes: 1, minAttemptSeconds: 0.5 }, () =>
      n++ === 0 ? Promise.reject(new Error('node cp3 lease not renewed for 9 s (max 8 s)')) : new Promise<void>(() => undefined),
    ).catch((e: unknown) => e as KcarunError);
    expect((err as KcarunError).message).toMatch(/; last error: node cp3 lease not renewed for 9 s \(max 8 s\) \(then an attempt was cut off after 0\.5 s, past the 0\.3 s deadline\)$/);
  });

  it('stops at once when aborted', async () => {
    const ac = new AbortController();
    const p = pollUntilStable({ host: 'h', probe: 'p' }, { timeoutSeconds: 60, intervalSeconds: 30, successes: 2 }, async () => undefined, ac.signal);
    setTimeout(() => ac.abort(new Error('SIGINT')), 20);
    await expect(p).rejects.toThrow('SIGINT');
  });
});

describe('rolloutPending', () => {
  it('follows kubectl rollout status for Deployments', () => {
    expect(rolloutPending('deployments', { metadata: { generation: 3 }, spec: { replicas: 2 }, status: { observedGeneration: 2 } })).toBe('spec change not yet observed');
    expect(rolloutPending('deployments', { metadata: { generation: 3 }, spec: { replicas: 2 }, status: { observedGeneration: 3, updatedReplicas: 1, replicas: 2 } })).toBe('1 of 2 replicas updated');
    expect(rolloutPending('deployments', { metadata: { generation: 3 }, spec: { replicas: 2 }, status: { observedGeneration: 3, updatedReplicas: 2, replicas: 3 } })).toBe('1 old replicas pending termination');
    expect(rolloutPending('deployments', { metadata: { generation: 3 }, spec: { replicas: 2 }, status: { observedGeneration: 3, updatedReplicas: 2, replicas: 2, availableReplicas: 1 } })).toBe('1 of 2 updated replicas available');
    expect(rolloutPending('deployments', { metadata: { generation: 3 }, spec: { replicas: 2 }, status: { observedGeneration: 3, updatedReplicas: 2, replicas: 2, availableReplicas: 2 } })).toBeNull();
  });

  it('follows kubectl rollout status for DaemonSets', () => {
    expect(rolloutPending('daemonsets', { metadata: { generation: 2 }, status: { observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 2 } })).toBe('2 of 3 pods updated');
    expect(rolloutPending('daemonsets', { metadata: { generation: 2 }, status: { observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 } })).toBeNull();
  });
});

describe('matchHost', () => {
  const hosts = [makeHost('cp1'), { ...makeHost('cp2'), address: '10.0.0.2' }, makeHost('cp3', { node_name: 'ip-10-0-0-3.ec2.internal' })];
  it('maps Lease holder identities and etcd members to inventory hosts', () => {
    expect(holderHostname('cp2_0f6c9a7e-1b2c-4d5e-8f90-123456789abc')).toBe('cp2');
    expect(holderHostname('master-1')).toBe('master-1');
    expect(matchHost(hosts, ['cp1'], [])).toBe('cp1');
    expect(matchHost(hosts, ['ip-10-0-0-3.ec2.internal'], [])).toBe('cp3');
    expect(matchHost(hosts, ['etcd-b'], ['10.0.0.2'])).toBe('cp2');
    expect(matchHost(hosts, ['other'], ['10.9.9.9'])).toBeNull();
  });
});

describe('checkKubeNodes', () => {
  it('reports nodes not Ready, missing and with stale leases', async () => {
    const now = Date.parse('2026-01-01T00:01:00Z');
    const lists: Record<string, unknown[]> = {
      '/api/v1/nodes': [
        { metadata: { name: 'a' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
        { metadata: { name: 'b' }, status: { conditions: [{ type: 'Ready', status: 'False', message: 'PLEG is not healthy' }] } },
        { metadata: { name: 'c' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
      ],
      '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases': [
        { metadata: { name: 'a' }, spec: { renewTime: '2026-01-01T00:00:55Z', leaseDurationSeconds: 40 } },
        { metadata: { name: 'b' }, spec: { renewTime: '2026-01-01T00:00:59Z', leaseDurationSeconds: 40 } },
        { metadata: { name: 'c' }, spec: { renewTime: '2026-01-01T00:00:00Z', leaseDurationSeconds: 40 } },
      ],
    };
    const client = { list: async <T>(path: string): Promise<T[]> => (lists[path] ?? []) as T[] };
    expect(await checkKubeNodes(client, { nodes: ['a', 'd'], now })).toEqual([
      'node d is not registered',
      'node b is not Ready (PLEG is not healthy)',
      'node c lease not renewed for 60 s (max 40 s)',
    ]);
    expect(await checkKubeNodes(client, { now, maxLeaseAgeSeconds: 3 })).toContain('node a lease not renewed for 5 s (max 3 s)');
  });
});
