import { stderrTail } from '../../core/errors.js';
import { shellJoin } from '../../core/shell.js';
import { CRICTL_EXEC_FAILED, isCrictlNoise } from './crictl.js';
import type { ExecResult, Transport } from '../../transport/types.js';

/** How to reach etcd with etcdctl on a host: the caller names the CA, cert and key (old or new files). */
export interface EtcdTls {
  cacert: string;
  cert: string;
  key: string;
  /** Client URLs; default https://<host address>:2379. */
  endpoints?: string[];
}

export interface EtcdMemberStatus {
  endpoint: string;
  memberId: string;
  leaderId: string;
  raftIndex: number;
  raftTerm: number;
  revision: number;
}

export interface EtcdMember {
  id: string;
  name: string;
  clientURLs: string[];
  peerURLs: string[];
}

export function etcdEndpoints(tls: EtcdTls, hostAddress: string): string[] {
  // An IPv6 address is bracketed in a URL (RFC 3986 section 3.2.2); the inventory holds it bare.
  const host = hostAddress.includes(':') && !hostAddress.startsWith('[') ? `[${hostAddress}]` : hostAddress;
  return tls.endpoints?.length ? tls.endpoints : [`https://${host}:2379`];
}

/**
 * A shell command that runs etcd's own tool (`etcdctl`, or `etcdutl` since etcd 3.5) where the host
 * has it: its own binary on the PATH (a hand-installed etcd), else inside the running etcd container
 * through `crictl exec` (a kubeadm node installs no etcd tools on the host; kubeadm's documentation
 * execs into the etcd static pod, whose image ships etcdctl and etcdutl). Paths in `args` must then be
 * visible inside the container: kubeadm's etcd manifest mounts /etc/kubernetes/pki/etcd and
 * /var/lib/etcd at the same paths. Exits 127 with a message naming both places when neither has it.
 */
export function etcdToolCommand(tool: 'etcdctl' | 'etcdutl', args: string[]): string {
  const argv = shellJoin([tool, ...args]);
  const missing = shellJoin([`${tool}: not on this host's PATH, and no running etcd container (crictl ps --name etcd) to run it in`]);
  return (
    `( if command -v ${tool} >/dev/null 2>&1; then ETCDCTL_API=3 ${argv}; ` +
    `else c=$(crictl ps --name '^etcd$' -q 2>/dev/null | head -n 1); ` +
    `if [ -n "$c" ]; then crictl exec "$c" ${argv}; else echo ${missing} >&2; exit 127; fi; fi )`
  );
}

/** `etcdctl <args>` with the TLS flags, every value quoted, run where the host has etcdctl (etcdToolCommand). */
export function etcdctlCommand(tls: EtcdTls, hostAddress: string, args: string[]): string {
  return etcdToolCommand('etcdctl', [
    `--endpoints=${etcdEndpoints(tls, hostAddress).join(',')}`,
    `--cacert=${tls.cacert}`,
    `--cert=${tls.cert}`,
    `--key=${tls.key}`,
    '--dial-timeout=3s',
    '--command-timeout=10s',
    ...args,
  ]);
}

/**
 * JSON a tool printed, or an Error that says what came back instead (a tool of another version may
 * print its help, e.g. etcd 3.6's etcdctl for `snapshot status`, which moved to etcdutl).
 */
export function parseToolJson(what: string, res: ExecResult): unknown {
  const text = res.stdout.trim();
  try {
    if (!/^[[{]/.test(text)) throw new Error('not JSON');
    return parseEtcdJson(text);
  } catch {
    const first = (text || res.stderr.trim()).split('\n')[0]?.slice(0, 160) ?? '';
    throw new Error(`${what} printed no JSON (rc ${res.rc}): ${first || '(nothing)'}`);
  }
}

/**
 * etcd member ids are uint64 and overflow a JS number: quote every long integer before JSON.parse
 * so ids survive as exact decimal strings.
 */
export function parseEtcdJson(text: string): unknown {
  return JSON.parse(text.replace(/([:[,]\s*)(\d{16,})(?=\s*[,}\]])/g, '$1"$2"'));
}

/**
 * The last lines of stderr worth showing (at most `lines`, joined by " | "), without etcdctl's JSON
 * info logs and without crictl's exec wrapper line and warnings (the kubeadm path of
 * etcdToolCommand). When the tool ran in the etcd container and could not open a file, says why
 * that can happen there.
 */
export function etcdctlStderr(res: ExecResult, lines = 3): string {
  const tail = stderrTail(res.stderr, { lines, separator: ' | ', skip: (l) => l.startsWith('{"level":"info"') || isCrictlNoise(l) });
  const ranInContainer = CRICTL_EXEC_FAILED.test(res.stderr);
  const missing = /(?:open|stat) (\/\S+): no such file or directory/.exec(res.stderr)?.[1];
  if (!ranInContainer || !missing) return tail;
  // The file may well exist on the host: the tool ran in the etcd container, which sees only the
  // pod's hostPath mounts (kubeadm's etcd manifest: /etc/kubernetes/pki/etcd and /var/lib/etcd).
  return `${tail} | ${missing} is not visible inside the etcd container, where ${ETCD_TOOL_HINT}`;
}

const ETCD_TOOL_HINT =
  'the tool ran (this host has no etcdctl/etcdutl on its PATH); the container sees only its pod\'s mounts (kubeadm: /etc/kubernetes/pki/etcd, /var/lib/etcd): use files there, or install etcdctl and etcdutl on the host';

interface RawStatus {
  Endpoint: string;
  Status: { header: { member_id: string | number }; leader: string | number; raftIndex: number; raftTerm: number; header_revision?: number };
}

/** `endpoint status` of every member (`--cluster`: discovered from the member list). */
export async function endpointStatus(transport: Transport, tls: EtcdTls, hostAddress: string, signal?: AbortSignal): Promise<{ statuses: EtcdMemberStatus[]; errors: string }> {
  const res = await transport.exec(etcdctlCommand(tls, hostAddress, ['endpoint', 'status', '--cluster', '-w', 'json']), { signal, timeoutMs: 30_000 });
  let raw: RawStatus[] = [];
  if (res.stdout.trim()) raw = parseToolJson('etcdctl endpoint status', res) as RawStatus[];
  else if (res.rc !== 0) throw new Error(`etcdctl endpoint status failed (rc ${res.rc}): ${etcdctlStderr(res)}`);
  const statuses = raw.map((r) => ({
    endpoint: r.Endpoint,
    memberId: String(r.Status.header.member_id),
    leaderId: String(r.Status.leader),
    raftIndex: r.Status.raftIndex,
    raftTerm: r.Status.raftTerm,
    revision: Number((r.Status.header as { revision?: number }).revision ?? 0),
  }));
  return { statuses, errors: res.rc === 0 ? '' : etcdctlStderr(res) };
}

export async function memberList(transport: Transport, tls: EtcdTls, hostAddress: string, signal?: AbortSignal): Promise<EtcdMember[]> {
  const res = await transport.exec(etcdctlCommand(tls, hostAddress, ['member', 'list', '-w', 'json']), { signal, timeoutMs: 30_000 });
  if (res.rc !== 0) throw new Error(`etcdctl member list failed (rc ${res.rc}): ${etcdctlStderr(res)}`);
  const doc = parseToolJson('etcdctl member list', res) as { members?: Array<{ ID: string | number; name?: string; clientURLs?: string[]; peerURLs?: string[] }> };
  return (doc.members ?? []).map((m) => ({ id: String(m.ID), name: m.name ?? '', clientURLs: m.clientURLs ?? [], peerURLs: m.peerURLs ?? [] }));
}

export async function endpointHealth(transport: Transport, tls: EtcdTls, hostAddress: string, signal?: AbortSignal): Promise<Array<{ endpoint: string; health: boolean; error?: string }>> {
  const res = await transport.exec(etcdctlCommand(tls, hostAddress, ['endpoint', 'health', '--cluster', '-w', 'json']), { signal, timeoutMs: 30_000 });
  if (!res.stdout.trim()) throw new Error(`etcdctl endpoint health failed (rc ${res.rc}): ${etcdctlStderr(res)}`);
  return parseToolJson('etcdctl endpoint health', res) as Array<{ endpoint: string; health: boolean; error?: string }>;
}

/**
 * One checked look at the cluster: every member answers and is healthy, and all agree on one
 * leader. Throws an Error whose message says what is wrong.
 */
export async function checkEtcdCluster(transport: Transport, tls: EtcdTls, hostAddress: string, signal?: AbortSignal): Promise<{ leaderId: string; raftIndex: number; members: number }> {
  const members = await memberList(transport, tls, hostAddress, signal);
  const health = await endpointHealth(transport, tls, hostAddress, signal);
  const sick = health.filter((h) => !h.health);
  if (sick.length) throw new Error(`unhealthy member(s): ${sick.map((h) => `${h.endpoint}${h.error ? ` (${h.error})` : ''}`).join(', ')}`);
  const { statuses, errors } = await endpointStatus(transport, tls, hostAddress, signal);
  if (statuses.length < members.length) {
    const seen = new Set(statuses.map((s) => s.memberId));
    const missing = members.filter((m) => !seen.has(m.id)).map((m) => m.name || m.id);
    throw new Error(`${missing.length} of ${members.length} member(s) do not answer: ${missing.join(', ')}${errors ? ` (${errors})` : ''}`);
  }
  const leaders = new Set(statuses.map((s) => s.leaderId));
  const leaderId = statuses[0]?.leaderId ?? '0';
  if (leaders.size !== 1 || leaderId === '0') throw new Error(`members do not agree on one leader: ${statuses.map((s) => `${s.endpoint} -> ${s.leaderId}`).join(', ')}`);
  if (!members.some((m) => m.id === leaderId)) throw new Error(`leader ${leaderId} is not in the member list`);
  return { leaderId, raftIndex: Math.max(...statuses.map((s) => s.raftIndex)), members: members.length };
}
