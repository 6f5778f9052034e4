/**
 * Reload facts of kube-controller-manager and kube-scheduler 1.37, and of kube-apiserver's
 * --kubelet-certificate-authority (client-go re-reads a CA file at most every 5 minutes, so that one
 * is watched in the background while the others run). Real etcd, kube-apiserver,
 * kube-controller-manager and kube-scheduler on 127.219.0.2; the "kubelet" the apiserver proxies to
 * is a TLS server of this test on 127.219.0.9:10250 (only the apiserver's client side is under test).
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { cleanup, fact, https, now, Pki, Proc, replaceFile, requireBinaries, secondsUntil, tempDir, waitFor } from './harness.js';

const IP = '127.219.0.2';
const KUBELET_IP = '127.219.0.9';
/** A second "kubelet" that asks for the apiserver's client certificate and records its issuer. */
const KUBELET2_IP = '127.219.0.10';
const ETCD = `https://${IP}:23792`;
const PEER = `http://${IP}:23802`; // one member: no peer traffic, no peer TLS needed
const API = `https://${IP}:16444`;
const KCM = `https://${IP}:10257`;
const SCHED = `https://${IP}:10259`;

let dir = '';
let pki: Pki;
let etcd: Proc;
let apiserver: Proc;
let kcm: Proc;
let scheduler: Proc;
let kubelet: Server | undefined;
let kubelet2: Server | undefined;
let kubelet2Issuer: string | undefined;
let kubeletCaResult: Promise<number | null> | undefined;
const measured: Record<string, number | null> = {};

const admin = (n: 1 | 2): { ca: string; cert: string; key: string } => ({ ca: pki.read('ca1.crt'), cert: pki.read(`admin${n}.crt`), key: pki.read(`admin${n}.key`) });
const api = (path: string, opts: Parameters<typeof https>[2] = {}): ReturnType<typeof https> => https(`${API}${path}`, admin(1), opts);

function kubeconfig(name: string): string {
  const doc = {
    apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
    clusters: [{ name: 'c', cluster: { server: API, 'certificate-authority-data': Buffer.from(pki.read('ca1.crt')).toString('base64') } }],
    users: [{ name: 'u', user: { 'client-certificate-data': Buffer.from(pki.read(`${name}.crt`)).toString('base64'), 'client-key-data': Buffer.from(pki.read(`${name}.key`)).toString('base64') } }],
    contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
  };
  const p = pki.p(`${name}.conf`);
  replaceFile(p, stringifyYaml(doc));
  return p;
}

/** A CSR for the kube-apiserver-client signer, approved; resolves to the issuer of the certificate kcm signs. */
async function signedIssuer(name: string): Promise<string | null> {
  execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', pki.p(`${name}.key`), '-out', pki.p(`${name}.csr`), '-subj', `/O=facts/CN=${name}`], { stdio: 'ignore' });
  const created = await api('/apis/certificates.k8s.io/v1/certificatesigningrequests', { method: 'POST', body: {
    metadata: { name }, spec: { request: Buffer.from(pki.read(`${name}.csr`)).toString('base64'), signerName: 'kubernetes.io/kube-apiserver-client',
      usages: ['client auth'], expirationSeconds: 600 } } });
  if (created.status !== 201) throw new Error(`CSR ${name}: ${created.status} ${created.body}`);
  const csr = JSON.parse(created.body) as { status?: { conditions?: unknown[] } };
  csr.status = { conditions: [{ type: 'Approved', status: 'True', reason: 'KcarunFacts', message: 'reload-fact test' }] };
  const approved = await api(`/apis/certificates.k8s.io/v1/certificatesigningrequests/${name}/approval`, { method: 'PUT', body: csr });
  if (approved.status !== 200) throw new Error(`approve ${name}: ${approved.status} ${approved.body}`);
  const t0 = now();
  while (now() - t0 < 20) {
    const got = JSON.parse((await api(`/apis/certificates.k8s.io/v1/certificatesigningrequests/${name}`)).body) as { status?: { certificate?: string } };
    if (got.status?.certificate) return pki.issuerCN(Buffer.from(got.status.certificate, 'base64').toString());
    await new Promise((r) => setTimeout(r, 500));
  }
  return null;
}

async function rootCaIn(ns: string): Promise<string | null> {
  const r = await api(`/api/v1/namespaces/${ns}/configmaps/kube-root-ca.crt`);
  return r.status === 200 ? (JSON.parse(r.body) as { data: Record<string, string> }).data['ca.crt'] ?? null : null;
}

describe('reload facts: kube-controller-manager, kube-scheduler, kube-apiserver --kubelet-certificate-authority (real binaries, loopback)', () => {
  beforeAll(async () => {
    const bin = requireBinaries();
    dir = tempDir('kcarun-facts-cm-');
    pki = new Pki(join(dir, 'pki'));
    for (const [n, cn] of [['ca1', 'kubernetes-1'], ['ca2', 'kubernetes-2'], ['eca', 'etcd-ca'], ['fp1', 'front-proxy-ca-1'], ['fp2', 'front-proxy-ca-2']] as const) pki.ca(n, cn);
    pki.leaf('etcd-server', 'eca', '/CN=facts-etcd', 'both', [`IP:${IP}`]);
    pki.leaf('etcd-client', 'eca', '/CN=kube-apiserver-etcd-client', 'client');
    pki.leaf('apiserver', 'ca1', '/CN=kube-apiserver', 'server', [`IP:${IP}`]);
    pki.leaf('kcm-serving', 'ca1', '/CN=kube-controller-manager', 'server', [`IP:${IP}`]);
    pki.leaf('sched-serving', 'ca1', '/CN=kube-scheduler', 'server', [`IP:${IP}`]);
    pki.leaf('kubelet-client', 'ca1', '/O=system:masters/CN=kube-apiserver-kubelet-client', 'client');
    pki.leaf('kubelet-serving', 'ca2', '/CN=facts-node', 'server', [`IP:${KUBELET_IP}`]);
    pki.leaf('kubelet2-serving', 'ca1', '/CN=facts-node-2', 'server', [`IP:${KUBELET2_IP}`]);
    pki.leaf('kubelet-client-new', 'ca2', '/O=system:masters/CN=kube-apiserver-kubelet-client', 'client');
    pki.leaf('kcm', 'ca1', '/O=system:masters/CN=system:kube-controller-manager', 'client');
    pki.leaf('sched', 'ca1', '/O=system:masters/CN=system:kube-scheduler', 'client');
    for (const n of [1, 2] as const) {
      pki.leaf(`admin${n}`, `ca${n}`, '/O=system:masters/CN=kubernetes-admin', 'client');
      pki.leaf(`fp-client${n}`, `fp${n}`, '/CN=front-proxy-client', 'client');
    }
    pki.rsaKey('sa');
    pki.copy(['ca1.crt'], 'kubelet-ca.crt');
    pki.copy(['ca1.crt'], 'kcm-client-ca.crt');
    pki.copy(['fp1.crt'], 'kcm-requestheader-ca.crt');
    pki.copy(['ca1.crt'], 'sched-client-ca.crt');
    pki.copy(['ca1.crt'], 'signing.crt'); pki.copy(['ca1.key'], 'signing.key');
    pki.copy(['ca1.crt'], 'root-ca.crt');

    etcd = new Proc('etcd', join(bin, 'etcd'), () => [
      '--name=facts', `--data-dir=${join(dir, 'etcd-data')}`, `--listen-client-urls=${ETCD}`, `--advertise-client-urls=${ETCD}`,
      `--listen-peer-urls=${PEER}`, `--initial-advertise-peer-urls=${PEER}`, `--initial-cluster=facts=${PEER}`,
      '--client-cert-auth', `--trusted-ca-file=${pki.p('eca.crt')}`, `--cert-file=${pki.p('etcd-server.crt')}`, `--key-file=${pki.p('etcd-server.key')}`, '--log-level=warn',
    ], join(dir, 'etcd.log'));
    apiserver = new Proc('kube-apiserver', join(bin, 'kube-apiserver'), () => [
      `--advertise-address=${IP}`, `--bind-address=${IP}`, '--secure-port=16444', `--etcd-servers=${ETCD}`,
      `--etcd-cafile=${pki.p('eca.crt')}`, `--etcd-certfile=${pki.p('etcd-client.crt')}`, `--etcd-keyfile=${pki.p('etcd-client.key')}`,
      `--client-ca-file=${pki.p('ca1.crt')}`, `--tls-cert-file=${pki.p('apiserver.crt')}`, `--tls-private-key-file=${pki.p('apiserver.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local', `--service-account-key-file=${pki.p('sa.pub')}`,
      `--service-account-signing-key-file=${pki.p('sa.key')}`, '--service-cluster-ip-range=10.239.112.0/20', '--authorization-mode=Node,RBAC',
      `--cert-dir=${join(dir, 'apiserver-cert-dir')}`, `--kubelet-certificate-authority=${pki.p('kubelet-ca.crt')}`,
      `--kubelet-client-certificate=${pki.p('kubelet-client.crt')}`, `--kubelet-client-key=${pki.p('kubelet-client.key')}`,
      '--kubelet-preferred-address-types=InternalIP', '--endpoint-reconciler-type=none', '--profiling=false', '--enable-priority-and-fairness=false', '--v=1',
    ], join(dir, 'kube-apiserver.log'));
    etcd.start();
    apiserver.start();
    await waitFor('kube-apiserver /readyz', async () => (await api('/readyz')).status === 200, 180, [apiserver, etcd]);

    // The apiserver's client transport to kubelets exists from its start; its 5-minute CA re-check
    // counts from then. The "kubelet" serves a certificate of the second CA, which the file lacks yet.
    kubelet = createServer({ cert: pki.read('kubelet-serving.crt'), key: pki.read('kubelet-serving.key') }, (_req, res) => { res.end('ok'); });
    await new Promise<void>((r) => kubelet!.listen(10250, KUBELET_IP, () => r()));
    expect((await api('/api/v1/nodes', { method: 'POST', body: { metadata: { name: 'facts-node' } } })).status).toBe(201);
    const patched = await api('/api/v1/nodes/facts-node/status', { method: 'PATCH', contentType: 'application/merge-patch+json',
      body: { status: { addresses: [{ type: 'InternalIP', address: KUBELET_IP }], daemonEndpoints: { kubeletEndpoint: { Port: 10250 } } } } });
    expect(patched.status).toBe(200);
    // Node proxy refuses loopback node addresses (pkg/registry/core/node/strategy.go:274, 294), so the
    // apiserver -> kubelet client is exercised through pod logs, which dial the same transport
    // (pkg/kubelet/client/kubelet_client.go:162-211) without that check.
    expect([201, 409]).toContain((await api('/api/v1/namespaces/default/serviceaccounts', { method: 'POST', body: { metadata: { name: 'default' } } })).status);
    const pod = await api('/api/v1/namespaces/default/pods', { method: 'POST', body: { metadata: { name: 'facts-pod' }, spec: {
      nodeName: 'facts-node', automountServiceAccountToken: false, containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] } } });
    expect(pod.status, pod.body).toBe(201);
    // The second kubelet (its serving certificate from the first CA, which the apiserver trusts from
    // the start) takes any client certificate and records who issued it.
    kubelet2 = createServer({ cert: pki.read('kubelet2-serving.crt'), key: pki.read('kubelet2-serving.key'), requestCert: true, rejectUnauthorized: false }, (req, res) => {
      kubelet2Issuer = (req.socket as TLSSocket).getPeerCertificate().issuer?.CN?.toString();
      res.end('ok');
    });
    await new Promise<void>((r) => kubelet2!.listen(10250, KUBELET2_IP, () => r()));
    expect((await api('/api/v1/nodes', { method: 'POST', body: { metadata: { name: 'facts-node-2' } } })).status).toBe(201);
    expect((await api('/api/v1/nodes/facts-node-2/status', { method: 'PATCH', contentType: 'application/merge-patch+json',
      body: { status: { addresses: [{ type: 'InternalIP', address: KUBELET2_IP }], daemonEndpoints: { kubeletEndpoint: { Port: 10250 } } } } })).status).toBe(200);
    const pod2 = await api('/api/v1/namespaces/default/pods', { method: 'POST', body: { metadata: { name: 'facts-pod-2' }, spec: {
      nodeName: 'facts-node-2', automountServiceAccountToken: false, containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] } } });
    expect(pod2.status, pod2.body).toBe(201);
    const proxied = (): ReturnType<typeof https> => api('/api/v1/namespaces/default/pods/facts-pod/log?container=c');
    const before = await proxied();
    expect(before.status, before.body).not.toBe(200);
    expect(before.body).toMatch(/x509|certificate/);
    replaceFile(pki.p('kubelet-ca.crt'), pki.read('ca1.crt') + pki.read('ca2.crt'));
    const f = fact('kube-apiserver', '--kubelet-certificate-authority');
    kubeletCaResult = secondsUntil(async () => (await proxied()).status === 200, f.withinSeconds!, 5000);

    kcm = new Proc('kube-controller-manager', join(bin, 'kube-controller-manager'), () => [
      `--kubeconfig=${kubeconfig('kcm')}`, `--authentication-kubeconfig=${pki.p('kcm.conf')}`, `--authorization-kubeconfig=${pki.p('kcm.conf')}`,
      `--bind-address=${IP}`, '--secure-port=10257', `--tls-cert-file=${pki.p('kcm-serving.crt')}`, `--tls-private-key-file=${pki.p('kcm-serving.key')}`,
      `--client-ca-file=${pki.p('kcm-client-ca.crt')}`, `--requestheader-client-ca-file=${pki.p('kcm-requestheader-ca.crt')}`,
      '--requestheader-allowed-names=front-proxy-client', '--requestheader-username-headers=X-Remote-User', '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      `--cluster-signing-cert-file=${pki.p('signing.crt')}`, `--cluster-signing-key-file=${pki.p('signing.key')}`, `--root-ca-file=${pki.p('root-ca.crt')}`,
      '--controllers=csrsigning,root-ca-cert-publisher', '--leader-elect=false', '--use-service-account-credentials=false', '--v=1',
    ], join(dir, 'kube-controller-manager.log'));
    scheduler = new Proc('kube-scheduler', join(bin, 'kube-scheduler'), () => [
      `--kubeconfig=${kubeconfig('sched')}`, `--authentication-kubeconfig=${pki.p('sched.conf')}`, `--authorization-kubeconfig=${pki.p('sched.conf')}`,
      `--bind-address=${IP}`, '--secure-port=10259', `--tls-cert-file=${pki.p('sched-serving.crt')}`, `--tls-private-key-file=${pki.p('sched-serving.key')}`,
      `--client-ca-file=${pki.p('sched-client-ca.crt')}`, '--leader-elect=false', '--v=1',
    ], join(dir, 'kube-scheduler.log'));
    kcm.start();
    scheduler.start();
    await waitFor('kube-controller-manager /healthz', async () => (await https(`${KCM}/healthz`, admin(1))).body === 'ok', 120, [kcm]);
    await waitFor('kube-scheduler /healthz', async () => (await https(`${SCHED}/healthz`, admin(1))).body === 'ok', 120, [scheduler]);
  }, 400_000);

  afterAll(async () => {
    await scheduler?.stop();
    await kcm?.stop();
    await apiserver?.stop();
    await etcd?.stop();
    await new Promise<void>((r) => (kubelet ? kubelet.close(() => r()) : r()));
    kubelet2?.closeAllConnections();
    await new Promise<void>((r) => (kubelet2 ? kubelet2.close(() => r()) : r()));
    if (dir) cleanup(dir);
    console.log(`measured reload seconds: ${JSON.stringify(measured)}`);
  }, 60_000);

  it('kube-controller-manager --client-ca-file', async () => {
    const f = fact('kube-controller-manager', '--client-ca-file');
    expect((await https(`${KCM}/metrics`, admin(1))).status).toBe(200);
    expect((await https(`${KCM}/metrics`, admin(2))).status).toBe(401);
    replaceFile(pki.p('kcm-client-ca.crt'), pki.read('ca1.crt') + pki.read('ca2.crt'));
    const s = await secondsUntil(async () => (await https(`${KCM}/metrics`, admin(2))).status === 200, f.withinSeconds!);
    measured[`${f.component} ${f.setting}`] = s;
    expect(s === null ? 'restart' : 'live').toBe(f.reload);
  });

  it('kube-controller-manager --requestheader-client-ca-file', async () => {
    const f = fact('kube-controller-manager', '--requestheader-client-ca-file');
    const viaProxy = (n: 1 | 2): Promise<number> => https(`${KCM}/metrics`, { ca: pki.read('ca1.crt'), cert: pki.read(`fp-client${n}.crt`), key: pki.read(`fp-client${n}.key`),
      headers: { 'X-Remote-User': 'facts-user', 'X-Remote-Group': 'system:masters' } }).then((r) => r.status);
    expect(await viaProxy(1)).toBe(200);
    expect(await viaProxy(2)).toBe(401);
    replaceFile(pki.p('kcm-requestheader-ca.crt'), pki.read('fp1.crt') + pki.read('fp2.crt'));
    const s = await secondsUntil(async () => (await viaProxy(2)) === 200, f.withinSeconds!);
    measured[`${f.component} ${f.setting}`] = s;
    expect(s === null ? 'restart' : 'live').toBe(f.reload);
  });

  it('kube-scheduler --client-ca-file', async () => {
    const f = fact('kube-scheduler', '--client-ca-file');
    expect((await https(`${SCHED}/metrics`, admin(1))).status).toBe(200);
    expect((await https(`${SCHED}/metrics`, admin(2))).status).toBe(401);
    replaceFile(pki.p('sched-client-ca.crt'), pki.read('ca1.crt') + pki.read('ca2.crt'));
    const s = await secondsUntil(async () => (await https(`${SCHED}/metrics`, admin(2))).status === 200, f.withinSeconds!);
    measured[`${f.component} ${f.setting}`] = s;
    expect(s === null ? 'restart' : 'live').toBe(f.reload);
  });

  it('kube-controller-manager --cluster-signing-cert-file/--cluster-signing-key-file', async () => {
    const f = fact('kube-controller-manager', '--cluster-signing-cert-file/--cluster-signing-key-file');
    expect(await signedIssuer('facts-before')).toBe('CN=kubernetes-1');
    replaceFile(pki.p('signing.key'), pki.read('ca2.key'));
    replaceFile(pki.p('signing.crt'), pki.read('ca2.crt'));
    let i = 0;
    const s = await secondsUntil(async () => (await signedIssuer(`facts-after-${i++}`)) === 'CN=kubernetes-2', f.withinSeconds!, 1000);
    measured[`${f.component} ${f.setting}`] = s;
    expect(s === null ? 'restart' : 'live').toBe(f.reload);
  }, 120_000);

  it('kube-controller-manager --root-ca-file (then a restart makes it take effect)', async () => {
    const f = fact('kube-controller-manager', '--root-ca-file');
    await waitFor('kube-root-ca.crt in default', async () => (await rootCaIn('default')) === pki.read('ca1.crt'), 60, [kcm]);
    const bundle = pki.read('ca1.crt') + pki.read('ca2.crt');
    replaceFile(pki.p('root-ca.crt'), bundle);
    expect((await api('/api/v1/namespaces', { method: 'POST', body: { metadata: { name: 'facts-new' } } })).status).toBe(201);
    await waitFor('kube-root-ca.crt in a new namespace', async () => (await rootCaIn('facts-new')) !== null, 30, [kcm]);
    const s = await secondsUntil(async () => (await rootCaIn('facts-new')) === bundle && (await rootCaIn('default')) === bundle, f.withinSeconds!, 1000);
    measured[`${f.component} ${f.setting}`] = s;
    expect(s === null ? 'restart' : 'live').toBe(f.reload);
    await kcm.restart();
    await waitFor('kube-root-ca.crt = the bundle after the restart', async () => (await rootCaIn('default')) === bundle, 90, [kcm]);
  }, 240_000);

  it('kube-apiserver --kubelet-client-certificate/--kubelet-client-key (at its next connection to a kubelet)', async () => {
    const f = fact('kube-apiserver', '--kubelet-client-certificate/--kubelet-client-key');
    const logs = async (): Promise<string | undefined> => {
      kubelet2Issuer = undefined;
      const r = await api('/api/v1/namespaces/default/pods/facts-pod-2/log?container=c');
      return r.status === 200 ? kubelet2Issuer : `HTTP ${r.status} ${r.body.slice(0, 200)}`;
    };
    expect(await logs()).toBe('kubernetes-1');
    // The kubelet side restarts (as switch-kubelets restarts every kubelet): the apiserver must dial
    // again, and presents whatever its files hold at that handshake.
    replaceFile(pki.p('kubelet-client.key'), pki.read('kubelet-client-new.key'));
    replaceFile(pki.p('kubelet-client.crt'), pki.read('kubelet-client-new.crt'));
    const s = await secondsUntil(async () => {
      kubelet2!.closeAllConnections();
      return (await logs()) === 'kubernetes-2';
    }, f.withinSeconds!, 1000);
    measured[`${f.component} ${f.setting}`] = s;
    expect(s === null ? 'restart' : 'live').toBe(f.reload);
  }, 60_000);

  it('kube-apiserver --kubelet-certificate-authority (watched since the apiserver started)', async () => {
    const f = fact('kube-apiserver', '--kubelet-certificate-authority');
    const s = await kubeletCaResult!;
    measured[`${f.component} ${f.setting}`] = s;
    expect(s === null ? 'restart' : 'live').toBe(f.reload);
  }, 400_000);
});
