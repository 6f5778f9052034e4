/**
 * The real lab's component-log scan (lab/real/component-logs.ts) on a node's log folders laid out as
 * the kubelet and the unit supervisor write them, with lines in the real components' formats: what
 * `lab verify` and the real rotation test report as the components' TLS and authentication errors.
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lineTime, nodeComponentErrors } from '../../lab/real/component-logs.js';

const root = mkdtempSync(join(tmpdir(), 'kcarun-component-logs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const since = new Date('2026-12-01T23:18:00Z');
const pods = join(root, 'var-log-pods');
const units = join(root, 'logs');

function write(path: string, lines: string[], mtime = new Date('2026-12-01T23:30:00Z')): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, `${lines.join('\n')}\n`);
  utimesSync(path, mtime, mtime);
}

// kube-apiserver (CRI format, klog inside): a refused client certificate counts; a handshake a load
// balancer's check ends with EOF and a CA bundle reload do not.
write(join(pods, 'kube-system_kube-apiserver-cp1_0a1b', 'kube-apiserver', '0.log'), [
  '2026-12-01T23:17:59.000000001Z stderr F E1201 23:17:59.000000       1 authentication.go:75] "Unable to authenticate the request" err="[x509: certificate signed by unknown authority]"',
  '2026-12-01T23:18:19.204123456Z stderr F E1201 23:18:19.204010       1 authentication.go:75] "Unable to authenticate the request" err="[x509: certificate signed by unknown authority, verifying certificate SN=1, SKID=, AKID= failed: x509: certificate signed by unknown authority]"',
  '2026-12-01T23:18:20.000000000Z stderr F I1201 23:18:20.000000       1 log.go:245] http: TLS handshake error from 10.232.0.10:51234: EOF',
  '2026-12-01T23:18:21.000000000Z stderr F I1201 23:18:21.000000       1 dynamic_cafile_content.go:161] "Starting controller" name="client-ca-bundle::/etc/kubernetes/pki/ca.crt"',
]);
// etcd (CRI format, zap JSON inside): a rejected peer handshake with a bad certificate counts.
write(join(pods, 'kube-system_etcd-cp1_9f8e', 'etcd', '1.log'), [
  '2026-12-01T23:18:30.100Z stderr F {"level":"warn","ts":"2026-12-01T23:18:30.100Z","caller":"embed/config_logging.go:160","msg":"rejected connection on peer endpoint","remote-addr":"10.232.0.12:40000","server-name":"","error":"remote error: tls: bad certificate"}',
  '2026-12-01T23:18:31.100Z stderr F {"level":"warn","ts":"2026-12-01T23:18:31.100Z","caller":"embed/config_logging.go:160","msg":"rejected connection on client endpoint","remote-addr":"10.232.0.12:40002","server-name":"","error":"EOF"}',
]);
// The kubelet (klog, no year) and containerd (logfmt) in the node's logs folder.
write(join(units, 'kubelet.log'), [
  'E1201 22:00:00.000000    1234 reflector.go:158] "Unhandled Error" err="failed to list *v1.Node: Unauthorized"',
  'E1201 23:20:05.123456    1234 reflector.go:158] "Unhandled Error" err="failed to list *v1.Node: Unauthorized"',
]);
write(join(units, 'containerd.log'), [
  'time="2026-12-01T23:19:00.123456789Z" level=error msg="PullImage failed" error="failed to do request: Head \\"https://registry.local/v2/\\": tls: failed to verify certificate: x509: certificate signed by unknown authority"',
]);
// Not components: sshd's log, kubeadm's run log; and a log untouched since before `since`.
write(join(units, 'sshd.log'), ['2026-12-01T23:25:00Z Unauthorized x509: whatever']);
write(join(units, 'kubeadm-join.log'), ['2026-12-01T23:25:00Z x509: certificate signed by unknown authority']);
write(join(units, 'old-agent.log'), ['2026-12-01T23:25:00Z x509: certificate signed by unknown authority'], new Date('2026-12-01T23:00:00Z'));

describe('TLS and authentication errors in the real components logs', () => {
  it('reads the time of CRI, klog, logfmt and ISO lines', () => {
    expect(lineTime('2026-12-01T23:18:19.204123456Z stderr F x', 2026)?.toISOString()).toBe('2026-12-01T23:18:19.204Z');
    expect(lineTime('E1201 23:20:05.123456    1234 x.go:1] y', 2026)?.toISOString()).toBe('2026-12-01T23:20:05.123Z');
    expect(lineTime('time="2026-12-01T23:19:00.123456789Z" level=error', 2026)?.toISOString()).toBe('2026-12-01T23:19:00.123Z');
    expect(lineTime('no time here', 2026)).toBeUndefined();
  });

  it('counts refused certificates and credentials since the given time, per component; not EOF handshakes, not the lab\'s own logs', () => {
    const found = nodeComponentErrors('cp1', pods, units, since);
    expect(found.map((e) => `${e.component} ${e.ts}`).sort()).toEqual([
      'containerd 2026-12-01T23:19:00.123Z',
      'etcd 2026-12-01T23:18:30.100Z',
      'kube-apiserver 2026-12-01T23:18:19.204Z',
      'kubelet 2026-12-01T23:20:05.123Z',
    ]);
    expect(found.every((e) => e.node === 'cp1')).toBe(true);
    expect(found.find((e) => e.component === 'etcd')!.line).toContain('remote error: tls: bad certificate');
  });

  // The field notes' wrong order (test/e2e/rotate-kubeadm-real.test.ts) asserts these lines: grpc-go's
  // addrConn warning, as the 1.37 apiserver (grpc 1.82) and the 1.34 one (grpc 1.72, which prints the
  // address's BalancerAttributes: the x509 cause at ~430 characters) write it.
  it('keeps an apiserver\'s whole grpc handshake warning, its x509 cause included, in both grpc-go forms', () => {
    const warning = (addr: string) => `W1201 23:18:40.000000       1 logging.go:55] [core] [Channel #1 SubChannel #3]grpc: addrConn.createTransport failed to connect to ${addr}. Err: connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`;
    const dir = join(root, 'grpc-pods');
    write(join(dir, 'kube-system_kube-apiserver-cp3_1c2d', 'kube-apiserver', '0.log'), [
      `2026-12-01T23:18:40.000000001Z stderr F ${warning('{Addr: "127.0.0.1:2379", ServerName: "127.0.0.1:2379", }')}`,
      `2026-12-01T23:18:41.000000001Z stderr F ${warning('{Addr: "127.0.0.1:2379", ServerName: "127.0.0.1:2379", BalancerAttributes: {"<%!p(pickfirstleaf.managedByPickfirstKeyType={})>": "<%!p(bool=true)>" }}')}`,
    ]);
    const found = nodeComponentErrors('cp3', dir, join(root, 'none'), since);
    expect(found).toHaveLength(2);
    expect(found[1]!.line.length).toBeGreaterThan(450);
    for (const e of found) expect(e.line).toMatch(/127\.0\.0\.1:2379.*x509: certificate signed by unknown authority"$/);
  });

  it('finds nothing where the folders do not exist', () => {
    expect(nodeComponentErrors('cp2', join(root, 'none'), join(root, 'none-either'), since)).toEqual([]);
  });
});
