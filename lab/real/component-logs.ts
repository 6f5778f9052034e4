/**
 * TLS and authentication errors in the real components' own logs (issue 18: "0 component errors in
 * the real components' logs"). The real lab's components log where they would on a kubeadm node:
 * the static pods (kube-apiserver, controller-manager, scheduler, etcd) through the kubelet and
 * containerd into /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log (CRI log format), the
 * kubelet and containerd into the node's logs folder (lab/real/files/unit-supervisor.sh).
 *
 * A line counts when it shows a certificate or credential being refused, in the words of the Go
 * sources the lab runs:
 * - `x509: ...` (crypto/x509: unknown authority, expired, wrong name), `tls: failed to verify
 *   certificate`, `remote error: tls: ...`, `tls: bad certificate`, `tls: unknown certificate
 *   authority` (crypto/tls), wherever they appear: a client's failed call, an apiserver's
 *   "http: TLS handshake error from ..." (net/http server.go), etcd's "rejected connection on client
 *   endpoint" (etcd server/v3 embed/config_logging.go), grpc's "authentication handshake failed";
 * - `Unable to authenticate the request` (k8s.io/apiserver endpoints/filters/authentication.go: a
 *   client certificate or token refused) and `Unauthorized` (a client told so by an apiserver).
 * A handshake that ends with EOF or a reset (a load balancer's check, a client going away during a
 * restart) is no such error and is not counted.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

export const TLS_OR_AUTH_ERROR = /x509: |tls: failed to verify certificate|remote error: tls: |tls: bad certificate|tls: unknown certificate authority|Unable to authenticate the request|\bUnauthorized\b/;

export interface ComponentLogError {
  node: string;
  /** The container name (static pods) or the unit (kubelet, containerd). */
  component: string;
  /** ISO time of the line. */
  ts: string;
  /**
   * The line, cut to MAX_LINE characters: whole for every line the lab matches on (a grpc-go 1.72
   * addrConn warning, Kubernetes 1.34's, is ~480 characters with its x509 cause at ~430).
   */
  line: string;
}

/**
 * The time a log line was written, or undefined when it carries none: CRI lines start with an
 * RFC 3339 time (`2026-12-01T23:18:19.204123456Z stderr F ...`); klog lines with `E1201
 * 23:18:19.204123` (no year: `year` is used); containerd's logfmt with `time="..."`; the unit
 * supervisor's own notes with an ISO time.
 */
export function lineTime(line: string, year: number): Date | undefined {
  const iso = /^(?:time=")?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))/.exec(line);
  if (iso) return new Date(iso[1]!.replace(/(\.\d{3})\d+/, '$1'));
  const klog = /^[IWEF](\d\d)(\d\d) (\d\d:\d\d:\d\d)(\.\d{1,6})?/.exec(line);
  if (klog) return new Date(`${year}-${klog[1]}-${klog[2]}T${klog[3]}${(klog[4] ?? '').slice(0, 4)}Z`);
  return undefined;
}

/**
 * Longest part of a line kept. It was 400 until session 22: the 1.34 apiserver's grpc warning about its
 * etcd client's failed handshake (BalancerAttributes printed into the address) then lost its x509
 * cause, and the field notes' wrong order seemed to leave no trace in the apiserver's log.
 */
const MAX_LINE = 2000;

/** The TLS and authentication errors in one log's text written at or after `since`; lines without a time are kept (they cannot be placed). */
export function tlsAuthErrors(text: string, since: Date, where: { node: string; component: string }): ComponentLogError[] {
  const found: ComponentLogError[] = [];
  for (const line of text.split('\n')) {
    if (!TLS_OR_AUTH_ERROR.test(line)) continue;
    const at = lineTime(line, since.getUTCFullYear());
    if (at && at < since) continue;
    found.push({ ...where, ts: at?.toISOString() ?? '', line: line.slice(0, MAX_LINE) });
  }
  return found;
}

/** Not components: the lab's own logs of each node (sshd, the init script, kubeadm's runs, the supervisor). */
const NOT_COMPONENTS = /^(sshd|init|supervisor|kubeadm-.*)\.log$/;

/**
 * Every TLS or authentication error the components of one node logged at or after `since`:
 * `podLogs` is the node's /var/log/pods, `unitLogs` its logs folder. Missing folders count as empty.
 */
export function nodeComponentErrors(node: string, podLogs: string, unitLogs: string, since: Date): ComponentLogError[] {
  const found: ComponentLogError[] = [];
  const read = (file: string, component: string): void => {
    try {
      // A log not written since `since` holds nothing newer (cheap on a long-lived lab).
      if (statSync(file).mtime < since) return;
      found.push(...tlsAuthErrors(readFileSync(file, 'utf8'), since, { node, component }));
    } catch {
      // Rotated away by the kubelet between the listing and the read: its lines are in the next file.
    }
  };
  const isDir = (p: string): boolean => {
    try {
      return statSync(p).isDirectory();
    } catch {
      return false;
    }
  };
  if (isDir(podLogs)) {
    for (const pod of readdirSync(podLogs)) {
      if (!isDir(join(podLogs, pod))) continue;
      for (const container of readdirSync(join(podLogs, pod))) {
        const dir = join(podLogs, pod, container);
        if (!isDir(dir)) continue;
        for (const f of readdirSync(dir)) if (/^\d+\.log$/.test(f)) read(join(dir, f), container);
      }
    }
  }
  if (isDir(unitLogs)) {
    for (const f of readdirSync(unitLogs)) if (f.endsWith('.log') && !NOT_COMPONENTS.test(f)) read(join(unitLogs, f), basename(f, '.log').replace(/\.service$/, ''));
  }
  return found;
}
