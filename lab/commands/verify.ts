/**
 * `verify`: one JSON object with the traffic counters, the component errors from the event log since
 * traffic started (or since `up` finished), whether every leaf certificate on every node has left the
 * CAs recorded at `up` (allCertsOnNewCA), and whether the data written at `up` and by the traffic is
 * still there (dataIntact).
 */
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { basename, join, relative } from 'node:path';
import { parse } from 'yaml';
import { DEFAULT_LAB_DIR, LabPaths } from '../lab-paths.js';
import { isRealLayout, readState, type LabState } from '../lab-state.js';
import { layoutByName } from '../layouts/index.js';
import { etcdClientFor } from '../lab-clients.js';
import { seedValue } from './up.js';
import type { TrafficCounters } from '../stand-ins/traffic.js';
import { realVerify } from '../real/traffic.js';
import type { UnavailabilityWindow } from '../unavailability.js';

export interface VerifyResult {
  requests: number;
  failures: number;
  componentErrors: number;
  connectionErrors: number;
  allCertsOnNewCA: boolean;
  dataIntact: boolean;
  dataMismatches: number;
  failuresByTarget: Record<string, number>;
  componentErrorsByComponent: Record<string, number>;
  failureWindows: Array<{ t: string; requests: number; failures: number }>;
  /** Straight to each apiserver (target `apiserver:<node>`), no retry elsewhere: when it could not answer. */
  unavailability: UnavailabilityWindow[];
  leavesOnOldCa: string[];
  filesTrustingOldCa: string[];
  since: string;
}

const CERT_RE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
/** Folders of a node that hold the cluster's certificates (not etcd data or the system trust store). */
const SCANNED = ['/etc/kubernetes', '/etc/etcd', '/etc/ssl/etcd', '/etc/prometheus', '/var/lib/kubelet'];

/**
 * Files a node's components read. A `<name>-current.pem` symlink (the kubelet's client pair) counts
 * as the file it names; the `<name>-<ts>.pem` files it no longer names are kept only for a rollback,
 * nothing reads them, so they are left out (as they are on a real node after the kubelet renews).
 */
function walk(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  const entries = readdirSync(dir);
  const current = new Map<string, string>();
  for (const e of entries) {
    const m = /^(.*)-current\.pem$/.exec(e);
    if (m && lstatSync(join(dir, e)).isSymbolicLink()) current.set(m[1]!, basename(readlinkSync(join(dir, e))));
  }
  for (const e of entries) {
    const p = join(dir, e);
    const m = /^(.*)-current\.pem$/.exec(e);
    if (m && current.has(m[1]!) && entries.includes(current.get(m[1]!)!)) continue; // its target is scanned under its own name
    let l;
    try {
      l = statSync(p);
    } catch {
      continue; // a dangling link
    }
    const stale = /^(.*)-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\.pem$/.exec(e);
    if (stale && current.has(stale[1]!) && current.get(stale[1]!) !== e) continue;
    if (l.isDirectory()) walk(p, out);
    else if (l.isFile() && l.size < 1_000_000) out.push(p);
  }
  return out;
}

/** Certificates in a file: PEM blocks, and base64 *-data fields of kubeconfigs. */
function certsInFile(text: string): string[] {
  const found = [...(text.match(CERT_RE) ?? [])];
  if (/-data:/.test(text)) {
    try {
      const doc = parse(text) as { clusters?: Array<{ cluster?: Record<string, string> }>; users?: Array<{ user?: Record<string, string> }> };
      for (const c of doc.clusters ?? []) found.push(...(Buffer.from(c.cluster?.['certificate-authority-data'] ?? '', 'base64').toString().match(CERT_RE) ?? []));
      for (const u of doc.users ?? []) found.push(...(Buffer.from(u.user?.['client-certificate-data'] ?? '', 'base64').toString().match(CERT_RE) ?? []));
    } catch {
      // not YAML: PEM blocks only
    }
  }
  return found;
}

export function checkCertificates(paths: LabPaths, state: LabState): { leavesOnOldCa: string[]; filesTrustingOldCa: string[] } {
  const oldCas = readdirSync(paths.originalCaDir).map((f) => new X509Certificate(readFileSync(join(paths.originalCaDir, f))));
  const leavesOnOldCa: string[] = [];
  const filesTrustingOldCa: string[] = [];
  for (const node of [...state.nodes, ...(state.workers ?? [])]) {
    const np = paths.node(node.name);
    for (const root of SCANNED) {
      for (const file of walk(np.fs(root))) {
        const text = readFileSync(file, 'utf8');
        if (!text.includes('CERTIFICATE') && !text.includes('-data:')) continue;
        const where = `${node.name}:/${relative(np.fs('/'), file)}`;
        for (const pem of certsInFile(text)) {
          let cert: X509Certificate;
          try {
            cert = new X509Certificate(pem);
          } catch {
            continue;
          }
          if (cert.ca) {
            if (oldCas.some((ca) => ca.fingerprint256 === cert.fingerprint256) && !filesTrustingOldCa.includes(where)) filesTrustingOldCa.push(where);
            continue;
          }
          if (oldCas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey)) && !leavesOnOldCa.includes(where)) leavesOnOldCa.push(where);
        }
      }
    }
  }
  return { leavesOnOldCa, filesTrustingOldCa };
}

async function checkData(paths: LabPaths, state: LabState, counters: TrafficCounters | undefined): Promise<{ intact: boolean; problems: string[] }> {
  const layout = layoutByName(state.layout);
  const endpoints = state.nodes.map((n) => `https://${n.ip}:2379`);
  const problems: string[] = [];
  // Through any node (the layout's etcd client files): try them in turn.
  for (const node of state.nodes) {
    try {
      const etcd = etcdClientFor(paths, layout, node, endpoints, 2000);
      const seeded = new Map((await etcd.list('/kcarun-lab/seed/')).map((kv) => [kv.key, kv.value]));
      for (let i = 0; i < state.seedKeys; i++) {
        const key = `/kcarun-lab/seed/${String(i).padStart(4, '0')}`;
        if (seeded.get(key) !== seedValue(i)) problems.push(`${key} lost or changed`);
      }
      for (const w of counters?.lastWrites ?? []) {
        if ((await etcd.get(w.key)) !== w.value) problems.push(`${w.key} (written by traffic) lost or changed`);
      }
      return { intact: problems.length === 0, problems };
    } catch (err) {
      problems.push(`${node.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { intact: false, problems };
}

export async function labVerify(dir = DEFAULT_LAB_DIR): Promise<VerifyResult & { dataProblems: string[] }> {
  const paths = new LabPaths(dir);
  const state = readState(paths);
  if (!state) throw new Error(`no lab in ${dir}`);
  if (isRealLayout(state.layout)) {
    // The real components' errors: TLS and authentication errors in their own logs (real/component-logs.ts).
    const r = await realVerify(paths, state);
    return {
      ...r,
      componentErrors: r.componentLogErrors,
      connectionErrors: 0,
      dataMismatches: 0,
      componentErrorsByComponent: r.componentLogErrorsByComponent,
      failureWindows: r.unavailability.map((w) => ({ t: w.from, requests: 0, failures: w.failures })),
      unavailability: r.unavailability.filter((w) => w.target !== 'lb'),
    };
  }
  const countersFile = join(paths.trafficDir, 'counters.json');
  const counters = existsSync(countersFile) ? (JSON.parse(readFileSync(countersFile, 'utf8')) as TrafficCounters) : undefined;
  const since = state.trafficStartedAt ?? state.readyAt ?? state.createdAt;
  let componentErrors = 0;
  let connectionErrors = 0;
  const byComponent: Record<string, number> = {};
  for (const line of readFileSync(paths.events, 'utf8').split('\n')) {
    if (!line) continue;
    let e: { ts: string; level: string; class?: string; component: string; node: string };
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      continue;
    }
    if (e.level !== 'error' || e.ts < since) continue;
    if (e.class === 'connection') {
      connectionErrors++;
      continue;
    }
    componentErrors++;
    const k = `${e.node}/${e.component}`;
    byComponent[k] = (byComponent[k] ?? 0) + 1;
  }
  const certs = checkCertificates(paths, state);
  const data = await checkData(paths, state, counters);
  const failuresByTarget: Record<string, number> = {};
  for (const [t, c] of Object.entries(counters?.byTarget ?? {})) if (c.failures) failuresByTarget[t] = c.failures;
  return {
    requests: counters?.requests ?? 0,
    failures: counters?.failures ?? 0,
    componentErrors,
    connectionErrors,
    allCertsOnNewCA: certs.leavesOnOldCa.length === 0,
    dataIntact: data.intact && (counters?.dataMismatches ?? 0) === 0,
    dataMismatches: counters?.dataMismatches ?? 0,
    failuresByTarget,
    componentErrorsByComponent: byComponent,
    failureWindows: (counters?.windows ?? []).filter((w) => w.failures > 0),
    unavailability: counters?.unavailability ?? [],
    leavesOnOldCa: certs.leavesOnOldCa,
    filesTrustingOldCa: certs.filesTrustingOldCa,
    since,
    dataProblems: data.problems.slice(0, 20),
  };
}
