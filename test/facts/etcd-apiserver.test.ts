/**
 * Reload facts of etcd 3.6 and kube-apiserver 1.37, proved against the real binaries on loopback
 * (127.219.0.1, ports 23791/23801/16443): each test changes a file on disk without restarting the
 * component and checks, with a new TLS handshake, whether the change took effect — and asserts what
 * src/pki/reload-facts.ts says. The tests run in order and share one etcd and one apiserver.
 */
import { readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanup, fact, https, now, Pki, Proc, replaceFile, requireBinaries, secondsUntil, signJwt, tempDir, waitFor,
} from './harness.js';

const run = promisify(execFile);
const IP = '127.219.0.1';
const ETCD = `https://${IP}:23791`;
const PEER = `https://${IP}:23801`;
const API = `https://${IP}:16443`;
const ISSUER = 'https://kubernetes.default.svc.cluster.local';

let dir = '';
let pki: Pki;
let bin = '';
let etcd: Proc;
let apiserver: Proc;
const measured: Record<string, number | null> = {};

/** etcdctl endpoint health with the given client files; true when healthy. */
async function etcdHealthy(ca: string, cert: string, key: string): Promise<boolean> {
  try {
    await run(join(bin, 'etcdctl'), [`--endpoints=${ETCD}`, `--cacert=${pki.p(ca)}`, `--cert=${pki.p(cert)}`, `--key=${pki.p(key)}`,
      '--dial-timeout=2s', '--command-timeout=2s', 'endpoint', 'health'], { timeout: 6000 });
    return true;
  } catch {
    return false;
  }
}

const asAdmin = (n: 1 | 2, path: string): ReturnType<typeof https> =>
  https(`${API}${path}`, { ca: pki.read('ca1.crt') + pki.read('ca2.crt'), cert: pki.read(`admin${n}.crt`), key: pki.read(`admin${n}.key`) });

async function apiReady(): Promise<boolean> {
  return (await asAdmin(1, '/readyz')).status === 200;
}

describe('reload facts: etcd 3.6 and kube-apiserver 1.37 (real binaries, loopback)', () => {
  beforeAll(async () => {
    bin = requireBinaries();
    dir = tempDir('kcarun-facts-ea-');
    pki = new Pki(join(dir, 'pki'));
    for (const [n, cn] of [['ca1', 'kubernetes-1'], ['ca2', 'kubernetes-2'], ['eca1', 'etcd-ca-1'], ['eca2', 'etcd-ca-2'], ['fp1', 'front-proxy-ca-1'], ['fp2', 'front-proxy-ca-2']] as const) pki.ca(n, cn);
    const ipSans = [`IP:${IP}`, 'DNS:localhost'];
    for (const n of [1, 2] as const) {
      pki.leaf(`etcd-server${n}`, `eca${n}`, '/CN=facts-etcd', 'both', ipSans);
      pki.leaf(`etcd-peer${n}`, `eca${n}`, '/CN=facts-etcd', 'both', ipSans);
      pki.leaf(`etcd-client${n}`, `eca${n}`, '/O=system:masters/CN=kube-apiserver-etcd-client', 'client');
      pki.leaf(`apiserver${n}`, `ca${n}`, '/CN=kube-apiserver', 'server', [...ipSans, 'DNS:kubernetes']);
      pki.leaf(`admin${n}`, `ca${n}`, '/O=system:masters/CN=kubernetes-admin', 'client');
      pki.leaf(`fp-client${n}`, `fp${n}`, '/CN=front-proxy-client', 'client');
      pki.rsaKey(`sa${n}`);
    }
    pki.leaf('kubelet-client', 'ca1', '/O=system:masters/CN=kube-apiserver-kubelet-client', 'client');
    // The files the components are pointed at; the tests change these.
    pki.copy(['eca1.crt'], 'etcd-trusted.crt');
    pki.copy(['eca1.crt'], 'etcd-peer-trusted.crt');
    pki.copy(['etcd-server1.crt'], 'etcd-server.crt'); pki.copy(['etcd-server1.key'], 'etcd-server.key');
    pki.copy(['etcd-peer1.crt'], 'etcd-peer.crt'); pki.copy(['etcd-peer1.key'], 'etcd-peer.key');
    pki.copy(['ca1.crt'], 'client-ca.crt');
    pki.copy(['fp1.crt'], 'requestheader-ca.crt');
    pki.copy(['apiserver1.crt'], 'apiserver.crt'); pki.copy(['apiserver1.key'], 'apiserver.key');
    pki.copy(['eca1.crt'], 'apiserver-etcd-ca.crt');
    pki.copy(['etcd-client1.crt'], 'apiserver-etcd-client.crt'); pki.copy(['etcd-client1.key'], 'apiserver-etcd-client.key');
    pki.copy(['sa1.pub'], 'sa.pub');

    etcd = new Proc('etcd', join(bin, 'etcd'), () => [
      '--name=facts', `--data-dir=${join(dir, 'etcd-data')}`, `--listen-client-urls=${ETCD}`, `--advertise-client-urls=${ETCD}`,
      `--listen-peer-urls=${PEER}`, `--initial-advertise-peer-urls=${PEER}`, `--initial-cluster=facts=${PEER}`,
      '--client-cert-auth', `--trusted-ca-file=${pki.p('etcd-trusted.crt')}`, `--cert-file=${pki.p('etcd-server.crt')}`, `--key-file=${pki.p('etcd-server.key')}`,
      '--peer-client-cert-auth', `--peer-trusted-ca-file=${pki.p('etcd-peer-trusted.crt')}`, `--peer-cert-file=${pki.p('etcd-peer.crt')}`,
      `--peer-key-file=${pki.p('etcd-peer.key')}`, '--log-level=warn',
    ], join(dir, 'etcd.log'));
    apiserver = new Proc('kube-apiserver', join(bin, 'kube-apiserver'), () => [
      `--advertise-address=${IP}`, `--bind-address=${IP}`, '--secure-port=16443', `--etcd-servers=${ETCD}`,
      `--etcd-cafile=${pki.p('apiserver-etcd-ca.crt')}`, `--etcd-certfile=${pki.p('apiserver-etcd-client.crt')}`, `--etcd-keyfile=${pki.p('apiserver-etcd-client.key')}`,
      `--client-ca-file=${pki.p('client-ca.crt')}`, `--tls-cert-file=${pki.p('apiserver.crt')}`, `--tls-private-key-file=${pki.p('apiserver.key')}`,
      `--requestheader-client-ca-file=${pki.p('requestheader-ca.crt')}`, '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-username-headers=X-Remote-User', '--requestheader-group-headers=X-Remote-Group', '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      `--service-account-issuer=${ISSUER}`, `--service-account-key-file=${pki.p('sa.pub')}`, `--service-account-signing-key-file=${pki.p('sa1.key')}`,
      '--service-cluster-ip-range=10.239.96.0/20', '--authorization-mode=Node,RBAC', `--cert-dir=${join(dir, 'cert-dir')}`,
      `--kubelet-client-certificate=${pki.p('kubelet-client.crt')}`, `--kubelet-client-key=${pki.p('kubelet-client.key')}`,
      '--endpoint-reconciler-type=none', '--profiling=false', '--enable-priority-and-fairness=false', '--v=1',
    ], join(dir, 'kube-apiserver.log'));
    etcd.start();
    await waitFor('etcd healthy', () => etcdHealthy('eca1.crt', 'etcd-client1.crt', 'etcd-client1.key'), 60, [etcd]);
    apiserver.start();
    await waitFor('kube-apiserver /readyz', apiReady, 150, [apiserver, etcd]);
  }, 300_000);

  afterAll(async () => {
    await apiserver?.stop();
    await etcd?.stop();
    if (dir) cleanup(dir);
    console.log(`measured reload seconds: ${JSON.stringify(measured)}`);
  }, 60_000);

  it('kube-apiserver --client-ca-file', async () => {
    const f = fact('kube-apiserver', '--client-ca-file');
    expect((await asAdmin(2, '/api/v1/namespaces/default')).status).toBe(401);
    replaceFile(pki.p('client-ca.crt'), pki.read('ca1.crt') + pki.read('ca2.crt'));
    const s = await secondsUntil(async () => (await asAdmin(2, '/api/v1/namespaces/default')).status === 200, f.withinSeconds!);
    measured[`${f.component} ${f.setting}`] = s;
    expect(s === null ? 'restart' : 'live').toBe(f.reload);
  });

  it('kube-apiserver --requestheader-client-ca-file', async () => {
    const f = fact('kube-apiserver', '--requestheader-client-ca-file');
    const viaProxy = (n: 1 | 2): ReturnType<typeof https> => https(`${API}/api/v1/namespaces/default`, {
      ca: pki.read('ca1.crt') + pki.read('ca2.crt'), cert: pki.read(`fp-client${n}.crt`), key: pki.read(`fp-client${n}.key`),
      headers: { 'X-Remote-User': 'facts-user', 'X-Remote-Group': 'system:masters' },
    });
    expect((await viaProxy(1)).status).toBe(200);
    expect((await viaProxy(2)).status).toBe(401);
    replaceFile(pki.p('requestheader-ca.crt'), pki.read('fp1.crt') + pki.read('fp2.crt'));
    const s = await secondsUntil(async () => (await viaProxy(2)).status === 200, f.withinSeconds!);
    measured[`${f.component} ${f.setting}`] = s;
    expect(s === null ? 'restart' : 'live').toBe(f.reload);
  });

  it('kube-apiserver --tls-cert-file/--tls-private-key-file', async () => {
    const f = fact('kube-apiserver', '--tls-cert-file/--tls-private-key-file');
    const trustingOnly = (n: 1 | 2): ReturnType<typeof https> =>
      https(`${API}/readyz`, { ca: pki.read(`ca${n}.crt`), cert: pki.read('admin1.crt'), key: pki.read('admin1.key') });
    expect((await trustingOnly(2)).status).toBe(0);
    // Key first, then certificate, as a careful writer does; the pair mismatches for a moment.
    replaceFile(pki.p('apiserver.key'), pki.read('apiserver2.key'));
    replaceFile(pki.p('apiserver.crt'), pki.read('apiserver2.crt'));
    const s = await secondsUntil(async () => (await trustingOnly(2)).status === 200, f.withinSeconds!);
    measured[`${f.component} ${f.setting}`] = s;
    expect(s === null ? 'restart' : 'live').toBe(f.reload);
  });

  let saToken = '';
  it('kube-apiserver --service-account-key-file (watched without a restart)', async () => {
    const f = fact('kube-apiserver', '--service-account-key-file');
    const sa = await https(`${API}/api/v1/namespaces/default/serviceaccounts`, { ca: pki.read('ca2.crt'), cert: pki.read('admin1.crt'), key: pki.read('admin1.key') },
      { method: 'POST', body: { metadata: { name: 'facts' } } });
    expect([201, 409]).toContain(sa.status);
    const uid = (JSON.parse((await asAdmin(1, '/api/v1/namespaces/default/serviceaccounts/facts')).body) as { metadata: { uid: string } }).metadata.uid;
    const t = Math.floor(Date.now() / 1000);
    saToken = signJwt({ iss: ISSUER, aud: [ISSUER], sub: 'system:serviceaccount:default:facts', iat: t, nbf: t, exp: t + 3600,
      'kubernetes.io': { namespace: 'default', serviceaccount: { name: 'facts', uid } } }, pki.read('sa2.key'));
    const withToken = async (): Promise<number> => (await https(`${API}/api/v1/namespaces/default/configmaps`, {
      ca: pki.read('ca2.crt'), headers: { authorization: `Bearer ${saToken}` } })).status;
    expect(await withToken()).toBe(401);
    replaceFile(pki.p('sa.pub'), pki.read('sa1.pub') + pki.read('sa2.pub'));
    const s = await secondsUntil(async () => (await withToken()) !== 401, f.withinSeconds!, 1000);
    measured[`${f.component} ${f.setting}`] = s;
    expect(s === null ? 'restart' : 'live').toBe(f.reload);
  }, 60_000);

  it('etcd --cert-file/--key-file (per handshake)', async () => {
    const f = fact('etcd', '--cert-file/--key-file');
    // The apiserver's etcd CA file gets the bundle on disk now: its reload is the etcd-cafile test below.
    replaceFile(pki.p('apiserver-etcd-ca.crt'), pki.read('eca1.crt') + pki.read('eca2.crt'));
    pki.copy(['eca1.crt', 'eca2.crt'], 'eca-bundle.crt');
    expect(await etcdHealthy('eca2.crt', 'etcd-client1.crt', 'etcd-client1.key')).toBe(false);
    replaceFile(pki.p('etcd-server.key'), pki.read('etcd-server2.key'));
    replaceFile(pki.p('etcd-server.crt'), pki.read('etcd-server2.crt'));
    const s = await secondsUntil(() => etcdHealthy('eca2.crt', 'etcd-client1.crt', 'etcd-client1.key'), f.withinSeconds!);
    measured[`${f.component} ${f.setting}`] = s;
    expect(s === null ? 'restart' : 'live').toBe(f.reload);
  });

  it('etcd --peer-cert-file/--peer-key-file (per handshake)', async () => {
    const f = fact('etcd', '--peer-cert-file/--peer-key-file');
    const peerVersion = (caName: string): Promise<boolean> => https(`${PEER}/version`, { ca: pki.read(caName), cert: pki.read('etcd-peer1.crt'), key: pki.read('etcd-peer1.key') })
      .then((r) => r.status === 200);
    expect(await peerVersion('eca1.crt')).toBe(true);
    expect(await peerVersion('eca2.crt')).toBe(false);
    replaceFile(pki.p('etcd-peer.key'), pki.read('etcd-peer2.key'));
    replaceFile(pki.p('etcd-peer.crt'), pki.read('etcd-peer2.crt'));
    const s = await secondsUntil(() => peerVersion('eca2.crt'), f.withinSeconds!);
    measured[`${f.component} ${f.setting}`] = s;
    expect(s === null ? 'restart' : 'live').toBe(f.reload);
  });

  it('etcd --trusted-ca-file and --peer-trusted-ca-file (then a restart makes them take effect)', async () => {
    const client = fact('etcd', '--trusted-ca-file');
    const peer = fact('etcd', '--peer-trusted-ca-file');
    const peerWithNewCert = (): Promise<boolean> => https(`${PEER}/version`, { ca: pki.read('eca-bundle.crt'), cert: pki.read('etcd-peer2.crt'), key: pki.read('etcd-peer2.key') })
      .then((r) => r.status === 200);
    expect(await etcdHealthy('eca-bundle.crt', 'etcd-client2.crt', 'etcd-client2.key')).toBe(false);
    expect(await peerWithNewCert()).toBe(false);
    replaceFile(pki.p('etcd-trusted.crt'), pki.read('eca1.crt') + pki.read('eca2.crt'));
    replaceFile(pki.p('etcd-peer-trusted.crt'), pki.read('eca1.crt') + pki.read('eca2.crt'));
    const t0 = now();
    const [sc, sp] = await Promise.all([
      secondsUntil(() => etcdHealthy('eca-bundle.crt', 'etcd-client2.crt', 'etcd-client2.key'), client.withinSeconds!, 1000),
      secondsUntil(peerWithNewCert, peer.withinSeconds!, 1000),
    ]);
    measured[`etcd ${client.setting}`] = sc;
    measured[`etcd ${peer.setting}`] = sp;
    expect(sc === null ? 'restart' : 'live').toBe(client.reload);
    expect(sp === null ? 'restart' : 'live').toBe(peer.reload);
    expect(now() - t0).toBeGreaterThanOrEqual(Math.min(client.withinSeconds!, peer.withinSeconds!) - 1);
    await etcd.restart();
    await waitFor('etcd healthy with a new-CA client after its restart', () => etcdHealthy('eca-bundle.crt', 'etcd-client2.crt', 'etcd-client2.key'), 60, [etcd]);
    expect(await peerWithNewCert()).toBe(true);
  }, 180_000);

  it('kube-apiserver --etcd-cafile (etcd now serves a new-CA certificate and was restarted)', async () => {
    const f = fact('kube-apiserver', '--etcd-cafile');
    // The file on disk has held the bundle since the etcd --cert-file test; the apiserver had to dial
    // etcd again after etcd's restart and met the new-CA serving certificate.
    const s = await secondsUntil(apiReady, f.withinSeconds!, 1000);
    measured[`${f.component} ${f.setting}`] = s;
    expect(s === null ? 'restart' : 'live').toBe(f.reload);
    // A restart reads it: the apiserver is ready again, and the service-account key file too.
    await apiserver.restart();
    await waitFor('kube-apiserver /readyz after its restart', apiReady, 150, [apiserver, etcd]);
    const st = (await https(`${API}/api/v1/namespaces/default/configmaps`, { ca: pki.read('ca2.crt'), headers: { authorization: `Bearer ${saToken}` } })).status;
    expect(st).not.toBe(401);
  }, 240_000);

  it('kube-apiserver --etcd-certfile/--etcd-keyfile (at its next connection to etcd)', async () => {
    const f = fact('kube-apiserver', '--etcd-certfile/--etcd-keyfile');
    replaceFile(pki.p('apiserver-etcd-client.key'), pki.read('etcd-client2.key'));
    replaceFile(pki.p('apiserver-etcd-client.crt'), pki.read('etcd-client2.crt'));
    // etcd now trusts only the new etcd CA: the apiserver's next handshake must present the new certificate.
    replaceFile(pki.p('etcd-trusted.crt'), pki.read('eca2.crt'));
    await etcd.restart();
    await waitFor('etcd healthy (new CA only)', () => etcdHealthy('eca2.crt', 'etcd-client2.crt', 'etcd-client2.key'), 60, [etcd]);
    expect(await etcdHealthy('eca-bundle.crt', 'etcd-client1.crt', 'etcd-client1.key')).toBe(false);
    const s = await secondsUntil(apiReady, f.withinSeconds!, 1000);
    measured[`${f.component} ${f.setting}`] = s;
    expect(s === null ? 'restart' : 'live').toBe(f.reload);
    expect(readFileSync(pki.p('apiserver-etcd-client.crt'), 'utf8')).toBe(pki.read('etcd-client2.crt'));
  }, 180_000);
});
