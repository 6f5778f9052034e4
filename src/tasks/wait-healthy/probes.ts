/**
 * The probes of `wait-healthy`. Where they run: ON the host, through its transport (etcdctl, curl,
 * openssl s_client, bash /dev/tcp), because the endpoints a gate checks often listen only on the
 * node (etcd and the kubelet bind node addresses or 127.0.0.1), and the certificate files a gate
 * must prove (the NEW etcd client cert, the new CA bundle) live on the host: their keys never have
 * to leave it. Only `kube` runs from the operator machine, through our HTTPS client and the
 * kubeconfig read from the host, because it needs the API's JSON and not one exit code.
 */
import { stderrTail } from '../../core/errors.js';
import { shellJoin } from '../../core/shell.js';
import type { Transport } from '../../transport/types.js';
import type { CommandProbe, EtcdProbe, HttpsProbe, KubeletProbe, KubeProbe, Probe, TcpProbe, TlsProbe } from './schema.js';
import { parseCertificates } from '../../pki/certificate.js';
import { isSelfIssuedOutsideCluster, verifyChain } from '../../pki/checks.js';
import { DEFAULT_KUBECONFIG } from '../shared/schemas.js';
import { checkEtcdCluster, etcdctlStderr } from '../shared/etcdctl.js';
import { kubeClientFromHost } from '../shared/kube-api-client.js';
import { checkKubeNodes } from '../shared/kube-nodes.js';
import { safeRegExp } from '../../core/safe-regex.js';

export interface ProbeEnv {
  transport: Transport;
  /** The host's address, for default endpoints. */
  address: string;
  become: boolean;
  now?: () => number;
}

/** One attempt; `signal` is aborted at the gate's deadline or on SIGINT. */
export type ProbeAttempt = (streak: number, signal: AbortSignal) => Promise<void>;

export function probeLabel(p: Probe): string {
  return p.name ?? (p.kind === 'https' ? `https ${p.url}` : p.kind === 'tls' || p.kind === 'tcp' || p.kind === 'kubelet' ? `${p.kind} ${p.address}` : p.kind);
}

export function makeProbe(p: Probe, env: ProbeEnv): ProbeAttempt {
  switch (p.kind) {
    case 'etcd':
      return etcdProbe(p, env);
    case 'https':
      return httpsProbe(p, env);
    case 'tls':
      return tlsProbe(p, env);
    case 'tcp':
      return tcpProbe(p, env);
    case 'kubelet':
      return kubeletProbe(p, env);
    case 'command':
      return commandProbe(p, env);
    case 'kube':
      return kubeProbe(p, env);
  }
}

function etcdProbe(p: EtcdProbe, env: ProbeEnv): ProbeAttempt {
  let windowStart: { index: number; term: string } | undefined;
  return async (streak, signal) => {
    const seen = await checkEtcdCluster(env.transport, p, env.address, signal);
    if (streak === 0) windowStart = { index: seen.raftIndex, term: seen.leaderId };
    // An idle-looking raft log means a stuck cluster: Kubernetes writes leases every few seconds.
    if ((p.requireRaftProgress ?? true) && streak > 0 && windowStart && seen.raftIndex <= windowStart.index) {
      throw new Error(`raft index is not advancing (still ${seen.raftIndex})`);
    }
  };
}

function httpsProbe(p: HttpsProbe, env: ProbeEnv): ProbeAttempt {
  const args = ['curl', '-sS', '--max-time', '10', '--cacert', p.cacert];
  if (p.cert) args.push('--cert', p.cert);
  if (p.key) args.push('--key', p.key);
  // --proto: the schema admits only http(s) URLs, and curl refuses any other scheme (file://, a
  // redirect elsewhere) besides; --url: a value can never be read as an option.
  args.push('--proto', '=https,http', '-w', '\n%{http_code}', '--url', p.url);
  const command = shellJoin(args);
  const expected = p.expectStatus ?? 200;
  return async (_streak, signal) => {
    const res = await env.transport.exec(command, { signal, become: env.become, timeoutMs: 20_000 });
    if (res.rc !== 0) throw new Error(`curl ${p.url} failed (rc ${res.rc}): ${curlError(res.stderr)}`);
    const nl = res.stdout.lastIndexOf('\n');
    const status = Number(res.stdout.slice(nl + 1).trim());
    const body = res.stdout.slice(0, Math.max(nl, 0));
    if (status !== expected) throw new Error(`${p.url} answered HTTP ${status} (expected ${expected}): ${body.trim().slice(0, 200)}`);
    if (p.bodyMatches !== undefined && !safeRegExp(p.bodyMatches, 'm').test(body)) {
      throw new Error(`${p.url} body does not match /${p.bodyMatches}/: ${body.trim().slice(0, 200)}`);
    }
  };
}

function tlsProbe(p: TlsProbe, env: ProbeEnv): ProbeAttempt {
  const host = p.address.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  const serverName = p.serverName ?? host;
  const isIp = /^[\d.]+$|:/.test(serverName);
  // An IP is checked against the IP SANs (-verify_ip); SNI is only sent for DNS names.
  const args = ['openssl', 's_client', '-connect', p.address, '-CAfile', p.ca, '-verify_return_error', ...(isIp ? ['-verify_ip', serverName] : ['-verify_hostname', serverName, '-servername', serverName])];
  if (p.cert) args.push('-cert', p.cert);
  if (p.key) args.push('-key', p.key);
  const command = `${shellJoin(args)} </dev/null 2>&1`;
  return async (_streak, signal) => {
    const res = await env.transport.exec(`timeout 10 ${command}`, { signal, become: env.become, timeoutMs: 20_000 });
    const out = res.stdout;
    const verify = /Verify return code: (\d+) \(([^)]*)\)/.exec(out);
    const served = /^\s*0 s:(.*)$/m.exec(out)?.[1]?.trim();
    const issuer = /^\s*i:(.*)$/m.exec(out)?.[1]?.trim();
    if (res.rc === 0 && verify?.[1] === '0') return;
    const error = /verify error:num=\d+:(.*)/.exec(out)?.[1] ?? verify?.[2] ?? stderrTail(out, { lines: 2, separator: ' | ' });
    throw new Error(
      `${p.address}: served certificate does not verify against ${p.ca}: ${error}${served ? ` (served: ${served}; issuer: ${issuer ?? '?'})` : ''}`,
    );
  };
}

/**
 * What a kubelet really serves and accepts, checked from the host: (1) GET /healthz with `cert`
 * answers 200 (the kubelet's client CA trusts that certificate's CA; 401 otherwise), (2) the served
 * certificate chain is either issued by `ca`, or the kubelet's own self-signed one (outside the
 * rotation: a default kubeadm kubelet without serverTLSBootstrap). The server certificate is not
 * verified by curl (`-k`): (2) judges it, because which CA must have issued it depends on the node.
 */
function kubeletProbe(p: KubeletProbe, env: ProbeEnv): ProbeAttempt {
  const url = `https://${p.address}/healthz`;
  const curl = shellJoin(['curl', '-sS', '-k', '--max-time', '10', '--cert', p.cert, '--key', p.key, '-w', '\n%{http_code}', url]);
  const sClient = `timeout 10 ${shellJoin(['openssl', 's_client', '-connect', p.address, '-showcerts'])} </dev/null 2>/dev/null`;
  return async (_streak, signal) => {
    const res = await env.transport.exec(curl, { signal, become: env.become, timeoutMs: 20_000 });
    if (res.rc !== 0) throw new Error(`curl ${url} failed (rc ${res.rc}): ${curlError(res.stderr)}`);
    const status = Number(res.stdout.slice(res.stdout.lastIndexOf('\n') + 1).trim());
    if (status !== 200) throw new Error(`${url} answered HTTP ${status} to ${p.cert}${status === 401 ? ' (the kubelet does not trust its CA: clientCAFile not reloaded?)' : ''}`);
    const served = parseCertificates((await env.transport.exec(sClient, { signal, become: env.become, timeoutMs: 20_000 })).stdout);
    const leaf = served[0];
    if (!leaf) throw new Error(`${p.address}: no certificate served (openssl s_client)`);
    const ca = parseCertificates(await env.transport.readFile(p.ca, { become: env.become }));
    const others = p.otherCas ? parseCertificates(await env.transport.readFile(p.otherCas, { become: env.become })) : [];
    if (verifyChain(leaf, ca).trusted) return;
    if (isSelfIssuedOutsideCluster(served, [...ca, ...others])) return;
    throw new Error(`${p.address}: serves "${leaf.subjectText}" issued by "${leaf.issuerText}", which is neither from ${p.ca} nor self-signed`);
  };
}

function tcpProbe(p: TcpProbe, env: ProbeEnv): ProbeAttempt {
  const m = /^(.*):(\d+)$/.exec(p.address);
  const host = (m?.[1] ?? p.address).replace(/^\[|\]$/g, '');
  const port = m?.[2] ?? '';
  // Host and port reach the inner bash as positional arguments, never as part of its script: in the
  // script text, a `$(...)` in an inventory value would run (found by review, session 26).
  const command = `timeout 5 ${shellJoin(['bash', '-c', 'exec 3<>"/dev/tcp/$1/$2"', 'tcp-probe', host, port])}`;
  return async (_streak, signal) => {
    const res = await env.transport.exec(command, { signal, timeoutMs: 15_000 });
    if (res.rc !== 0) throw new Error(`cannot connect to ${p.address}${res.rc === 124 ? ' (timed out)' : `: ${stderrTail(res.stderr, { lines: 1 })}`}`);
  };
}

function commandProbe(p: CommandProbe, env: ProbeEnv): ProbeAttempt {
  return async (_streak, signal) => {
    const res = await env.transport.exec(p.command, { signal, become: p.become ?? env.become, timeoutMs: 60_000 });
    if (res.rc !== 0) throw new Error(`command exited ${res.rc}: ${etcdctlStderr(res) || stderrTail(res.stdout, { lines: 1 })}`);
    if (p.stdoutMatches !== undefined && !safeRegExp(p.stdoutMatches, 'm').test(res.stdout)) {
      throw new Error(`output does not match /${p.stdoutMatches}/: ${res.stdout.trim().slice(0, 200)}`);
    }
  };
}

function kubeProbe(p: KubeProbe, env: ProbeEnv): ProbeAttempt {
  return async () => {
    const client = await kubeClientFromHost(env.transport, p.kubeconfig ?? DEFAULT_KUBECONFIG, { become: env.become });
    const problems = await checkKubeNodes(client, { nodes: p.nodes, maxLeaseAgeSeconds: p.maxLeaseAgeSeconds, now: (env.now ?? Date.now)() });
    if (problems.length) throw new Error(problems.join('; '));
  };
}

/**
 * What curl said went wrong: its own `curl: (N) ...` lines (with -sS it prints one per failure),
 * else the last 2 lines of stderr. The tail alone is not enough: for an untrusted certificate
 * (rc 60) curl follows its reason with a paragraph of advice, which would push the reason out
 * (seen on the genuine kubeadm lab).
 */
function curlError(stderr: string): string {
  const own = stderr.split('\n').filter((l) => l.startsWith('curl: ('));
  return own.length ? own.join(' | ') : stderrTail(stderr, { lines: 2, separator: ' | ' });
}
