/**
 * Every stock playbook dry-runs through, against one fake-but-real kubeadm node: a real OpenSSH
 * server (test/helpers/sshd.ts) on this machine, the node's files as the lab's kubeadm layout
 * writes them (CAs, leaves and keys made by the openssl CLI, manifests, kubeconfigs, the kubelet's
 * client pair) in a temp folder whose paths the inventory maps the layout's onto, and a real etcd
 * with mutual TLS on the node's address. No apiserver, kubelet or controller-manager runs: those
 * are only planned by a dry run (their restarts and gates), and the lease probe falls back to the
 * inventory order. The lab-based acceptance tests are the real-cluster dry runs in test/e2e/other-playbooks-real.test.ts (kubeadm) and rotate-binary-real.test.ts (binary).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabPaths } from '../../lab/lab-paths.js';
import { kubeadmNodeFiles } from '../../lab/layouts/kubeadm-files.js';
import { waitForPort } from '../../lab/net.js';
import { caValidity, issueCertificate, leafValidity, type KeyPair } from '../../lab/openssl.js';
import { jsonEvents, runCli } from '../helpers/cli.js';
import { startSshd, type SshdHarness } from '../helpers/sshd.js';

const PLAYBOOKS = join(import.meta.dirname, '..', '..', 'playbooks');

let sshd: SshdHarness;
let root: string;
/** The node's "/" (its files live below it). */
let fsRoot: string;
let inventory: string;
let etcd: ChildProcess | undefined;

/** The layout's paths moved under the fake node's folder. */
function mapPaths(value: unknown): unknown {
  if (typeof value === 'string') return /^\/(etc|var\/lib\/kubelet)(\/|$)/.test(value) ? `${fsRoot}${value}` : value;
  if (Array.isArray(value)) return value.map(mapPaths);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapPaths(v)]));
  return value;
}

async function sums(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.set(p, `${createHash('sha256').update(await readFile(p)).digest('hex')} ${((await stat(p)).mode & 0o7777).toString(8)}`);
    }
  };
  await walk(dir);
  return out;
}

beforeAll(async () => {
  sshd = await startSshd({ name: 'cp1' });
  // A lower-case folder name: mkdtemp's mixed-case suffix plus the node's path makes a 40-character
  // base64-looking run, which the redactor masks in messages (docs/security.md, "What is masked").
  root = join(tmpdir(), `kcarun-stock-dry-run-${process.pid}`);
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { mode: 0o700 });
  const paths = new LabPaths(root);
  const caDir = join(root, 'pki', 'ca');
  await mkdir(caDir, { recursive: true });
  const now = new Date();
  const validity = caValidity(now, 200);
  const ca = async (name: string, cn: string): Promise<KeyPair> => {
    const kp = { certFile: join(caDir, `${name}.crt`), keyFile: join(caDir, `${name}.key`) };
    await issueCertificate({ subject: [['CN', cn]], usage: 'ca', validity, ...kp });
    return kp;
  };
  const cas = { kubernetes: await ca('kubernetes', 'kubernetes'), etcd: await ca('etcd', 'etcd-ca'), frontProxy: await ca('front-proxy', 'front-proxy-ca') };
  const node = { index: 0, name: 'cp1', ip: sshd.address };
  const nodePaths = paths.node('cp1');
  await kubeadmNodeFiles.writeNode({ paths, nodes: [node], node, nodePaths, cas, leafValidity: leafValidity(now, validity) });
  fsRoot = nodePaths.fs('/').replace(/\/$/, '');
  // kubelet.conf names its client pair by an absolute path: the fake node's.
  const kubeletConf = `${fsRoot}/etc/kubernetes/kubelet.conf`;
  await writeFile(kubeletConf, (await readFile(kubeletConf, 'utf8')).replaceAll('/var/lib/kubelet/', `${fsRoot}/var/lib/kubelet/`));

  const pki = `${fsRoot}/etc/kubernetes/pki/etcd`;
  const url = (port: number) => `https://${sshd.address}:${port}`;
  etcd = spawn('etcd', [
    '--name=cp1', `--data-dir=${join(root, 'etcd-data')}`,
    `--listen-client-urls=${url(2379)}`, `--advertise-client-urls=${url(2379)}`,
    `--listen-peer-urls=${url(2380)}`, `--initial-advertise-peer-urls=${url(2380)}`, `--initial-cluster=cp1=${url(2380)}`,
    `--cert-file=${pki}/server.crt`, `--key-file=${pki}/server.key`, `--trusted-ca-file=${pki}/ca.crt`, '--client-cert-auth=true',
    `--peer-cert-file=${pki}/peer.crt`, `--peer-key-file=${pki}/peer.key`, `--peer-trusted-ca-file=${pki}/ca.crt`, '--peer-client-cert-auth=true',
    '--listen-metrics-urls=', '--log-level=error',
  ], { stdio: 'ignore' });
  if (!(await waitForPort(sshd.address, 2379, 15_000, () => etcd?.exitCode !== null))) throw new Error('etcd did not start');

  const layoutVars = parse(await readFile(join(PLAYBOOKS, 'layouts', 'kubeadm.yaml'), 'utf8')) as Record<string, unknown>;
  inventory = join(root, 'inventory.yaml');
  await writeFile(
    inventory,
    stringify({
      apiVersion: 'kcarun/v1',
      kind: 'Inventory',
      hosts: { cp1: { address: sshd.address, port: sshd.port, user: 'root', ssh: { identityFile: sshd.identityFile, knownHostsFile: sshd.knownHostsFile, useAgent: false } } },
      groups: { etcd: { hosts: ['cp1'] }, control_plane: { hosts: ['cp1'] }, workers: { hosts: [] } },
      vars: mapPaths(layoutVars),
    }),
  );
}, 180_000);

afterAll(async () => {
  if (etcd?.pid && etcd.exitCode === null) {
    const exited = new Promise((r) => etcd!.once('exit', r));
    etcd.kill('SIGTERM');
    await exited;
  }
  await sshd?.stop();
  if (root) await rm(root, { recursive: true, force: true });
}, 60_000);

async function dryRun(playbook: string, extra: string[] = []): Promise<ReturnType<typeof jsonEvents>> {
  const before = await sums(fsRoot);
  const etcdPid = etcd?.pid;
  const res = await runCli([join(PLAYBOOKS, playbook), '-i', inventory, '--dry-run', '--output', 'json', '--state-dir', join(root, `state-${playbook}`), ...extra], { cwd: root });
  const events = jsonEvents(res.stdout);
  const failed = events.filter((e) => e.event === 'task-end' && e.status === 'failed').map((e) => `${e.stage}/${e.task}: ${(e.error as { message: string }).message}`);
  expect(failed, playbook).toEqual([]);
  expect(res.code, `${playbook}: ${res.stderr}`).toBe(0);
  expect(res.stdout + res.stderr).not.toMatch(/undefined variable|rolled back|--resume/);
  expect(events.at(-1)).toMatchObject({ event: 'run-end', status: 'planned', exitCode: 0 });
  expect(await sums(fsRoot), `${playbook} changed a file`).toEqual(before);
  expect(etcd?.exitCode, 'etcd still runs').toBeNull();
  expect(etcd?.pid).toBe(etcdPid);
  return events;
}

const statuses = (events: ReturnType<typeof jsonEvents>) => Object.fromEntries(events.filter((e) => e.event === 'stage-end').map((e) => [String(e.stage), String(e.status)]));

describe('every stock playbook dry-runs through against a fake kubeadm node', () => {
  it('rotate-ca: every stage planned, finalize included; CAs made in the scratch state; the plan names its files', async () => {
    const events = await dryRun('rotate-ca.yaml');
    const s = statuses(events);
    expect(Object.entries(s).filter(([, v]) => v !== 'ok')).toEqual([]);
    expect(Object.keys(s)).toEqual(expect.arrayContaining(['detect', 'preflight', 'backup', 'prepare-cas', 'prepare-certs', 'distribute', 'trust-etcd', 'trust-kubelets', 'switch-signing', 'switch-etcd', 'switch-control-plane', 'switch-kubelets', 'finalize', 'finalize-check', 'finalize-etcd', 'finalize-kubelets', 'finalize-cleanup', 'post-check']));
    const ends = events.filter((e) => e.event === 'task-end');
    // preflight ran for real (etcd answered), and so did the post-check, against the predicted files.
    // Its one warning: the kubeadm manifest sets no --shutdown-delay-duration (kubeadm's default).
    expect(ends.find((e) => e.stage === 'preflight')?.summary).toBe('1 host(s) ready, 1 warning(s)');
    expect(JSON.stringify(events.filter((e) => e.stage === 'preflight' && e.event !== 'task-end'))).toContain('kube-apiserver.yaml does not set --shutdown-delay-duration');
    expect(ends.filter((e) => e.stage === 'post-check' && e.type === 'cert-check').every((e) => /certificates? OK/.test(String(e.summary)))).toBe(true);
    // The etcd leader: decided at run time while the probe needs the bundle; asked live at finalize.
    const leaders = Object.fromEntries(events.filter((e) => e.event === 'stage-start' && e.leader).map((e) => [String(e.stage), String((e.leader as { note?: string }).note)]));
    expect(leaders['trust-etcd']).toMatch(/decided at run time: the etcd-leader probe reads .*etcd\/ca-bundle\.crt/);
    expect(leaders['finalize-etcd']).toBe('leader cp1 goes last (asked live)');
    const files = new Set(events.filter((e) => e.event === 'planned-change' && e.path).map((e) => String(e.path).slice(fsRoot.length)));
    for (const f of ['/etc/kubernetes/pki/ca.crt', '/etc/kubernetes/pki/ca.key', '/etc/kubernetes/pki/etcd/server.crt', '/etc/kubernetes/manifests/etcd.yaml', '/etc/kubernetes/admin.conf', '/etc/kubernetes/kubelet.conf', '/var/lib/kubelet/pki/kubelet-client-current.pem', '/var/lib/kubelet/config.yaml', '/etc/kubernetes/pki/ca-bundle.crt']) {
      expect(files, f).toContain(f);
    }
    const summary = events.find((e) => e.event === 'plan-summary') as unknown as { hosts: { host: string; files: { path: string; kind: string }[]; restarts: { component: string; count: number }[] }[] };
    const cp1 = summary.hosts.find((h) => h.host === 'cp1')!;
    expect(cp1.files.find((f) => f.path.endsWith('/etc/kubernetes/pki/ca-bundle.crt'))?.kind).toBe('transient');
    // etcd restarts twice (trust, finalize): switch-etcd writes its certificates and restarts nothing
    // (etcd reads them at every handshake). Its apiserver is held and released around both, and
    // starts twice in all (issue 19: 5 before trust-/finalize-apiserver's changes rode on the
    // releases, 3 before switch-control-plane left it to reload its certificates): trust-etcd's
    // release, finalize-etcd's release.
    expect(Object.fromEntries(cp1.restarts.map((r) => [r.component, r.count]))).toMatchObject({ etcd: 2, 'kube-apiserver': 2, kubelet: expect.any(Number) });
    // (This lab's node paths lie under its folder: <lab>/nodes/cp1/fs/etc/kubernetes/...)
    const onNode = (text: string) => text.replace(/[^ (=]*\/nodes\/cp1\/fs\//g, '/');
    expect(ends.filter((e) => e.host === 'cp1' && e.type === 'static-pod-hold').map((e) => `${String(e.stage)}: ${onNode(String(e.summary))}`)).toEqual([
      'trust-etcd: would take kube-apiserver out of service until it is released (/etc/kubernetes/manifests/kube-apiserver.yaml set aside)',
      'trust-etcd: would put kube-apiserver back (/etc/kubernetes/manifests/kube-apiserver.yaml restored) with --etcd-cafile=/etc/kubernetes/pki/etcd/ca-bundle.crt, --client-ca-file=/etc/kubernetes/pki/ca-bundle.crt, --kubelet-certificate-authority=/etc/kubernetes/pki/ca-bundle.crt, --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca-bundle.crt',
      'finalize-etcd: would take kube-apiserver out of service until it is released (/etc/kubernetes/manifests/kube-apiserver.yaml set aside)',
      'finalize-etcd: would put kube-apiserver back (/etc/kubernetes/manifests/kube-apiserver.yaml restored) with --etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt, --client-ca-file=/etc/kubernetes/pki/ca.crt, --kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt, --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt',
    ]);
    // The release made the apiserver's trust changes (issue 19): trust-apiserver and
    // finalize-apiserver leave this stacked member's node alone, no restart of their own.
    expect(ends.filter((e) => e.host === 'cp1' && (e.stage === 'trust-apiserver' || e.stage === 'finalize-apiserver')).map((e) => `${String(e.stage)}/${String(e.task)}: ${String(e.status)}`)).toEqual([
      'trust-apiserver/apiserver --etcd-cafile, --client-ca-file, --kubelet-certificate-authority, --requestheader-client-ca-file = the bundles: skipped',
      'trust-apiserver/restart kube-apiserver: skipped',
      'trust-apiserver/apiserver ready: skipped',
      'finalize-apiserver/apiserver --etcd-cafile, --client-ca-file, --kubelet-certificate-authority, --requestheader-client-ca-file = the new CAs: skipped',
      'finalize-apiserver/restart kube-apiserver: skipped',
      'finalize-apiserver/apiserver ready: skipped',
    ]);
    // The CA key is planned, never shown.
    const keyDiff = ends.find((e) => e.task === 'new Kubernetes CA key (where the old key was)')?.diff;
    expect(keyDiff).toMatch(/replaced private key \(key material, not shown\)/);
    expect(JSON.stringify(events)).not.toMatch(/PRIVATE KEY-----\\nMI/);
  }, 300_000);

  it('rotate-etcd-ca, rotate-k8s-ca, renew-leaf-certs, check-expiry and offline-replace dry-run through', async () => {
    const etcd = statuses(await dryRun('rotate-etcd-ca.yaml'));
    expect(etcd['finalize-etcd']).toBe('ok');
    expect(etcd['trust-kubelets']).toBe('skipped');
    const k8s = statuses(await dryRun('rotate-k8s-ca.yaml'));
    expect(k8s['finalize-kubelets']).toBe('ok');
    expect(k8s['trust-etcd']).toBe('skipped');
    const renew = statuses(await dryRun('renew-leaf-certs.yaml', ['-e', 'force_renewal=true']));
    expect(Object.entries(renew).filter(([, v]) => v !== 'ok')).toEqual([]);
    // New keys: the renewal's key check compares each planned key with its planned certificate.
    const rotate = statuses(await dryRun('renew-leaf-certs.yaml', ['-e', 'force_renewal=true', '-e', 'key_policy=rotate']));
    expect(Object.entries(rotate).filter(([, v]) => v !== 'ok')).toEqual([]);
    const expiry = await dryRun('check-expiry.yaml', ['-e', 'warn_days=1']);
    expect(expiry.filter((e) => e.event === 'planned-change')).toEqual([]);
    const offline = statuses(await dryRun('offline-replace.yaml', ['-e', 'accept_downtime=true']));
    expect(Object.entries(offline).filter(([, v]) => v !== 'ok')).toEqual([]);
  }, 600_000);
});
