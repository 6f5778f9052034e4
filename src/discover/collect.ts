/**
 * Reading one host for discover: running components (/proc), their manifests and units, the config,
 * environment, kubeconfig and certificate files they name, and the usual PKI folders. Read-only:
 * only Transport.exec of listing/reading commands, readFile and stat; nothing is written.
 */
import { posix } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { shellQuote } from '../core/shell.js';
import { canonicalPaths, listCertificateFiles } from '../tasks/shared/cert-scan.js';
import type { Transport } from '../transport/types.js';
import {
  CERT_SETTINGS,
  COMPONENTS,
  KEY_OF,
  KUBECONFIG_SETTINGS,
  resolveComponent,
  unitOfCgroup,
  type ComponentInstance,
  type HostConfigFiles,
  type ProcessInfo,
  type UnitFile,
} from './components.js';

/** Folders scanned for certificates nobody names (monitoring clients, backup jobs), besides the components' own. */
export const DISCOVER_PKI_DIRS = ['/etc/kubernetes', '/etc/etcd', '/etc/ssl/etcd', '/etc/prometheus', '/var/lib/kubelet/pki'];
const UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];
const MANIFEST_DIR = '/etc/kubernetes/manifests';

/** A kubeconfig as discover needs it: how it holds its CA and client certificate. */
export interface KubeconfigFacts {
  path: string;
  caFile?: string;
  caEmbedded: boolean;
  clientCertFile?: string;
  clientKeyFile?: string;
  clientCertEmbedded: boolean;
}

export interface HostFacts {
  host: string;
  components: ComponentInstance[];
  /** Every unit name found (without .service), for extra clients' restart methods. */
  unitNames: string[];
  /** Certificate and kubeconfig files read, by path (PEM text or kubeconfig YAML). */
  files: Map<string, Buffer>;
  kubeconfigs: Map<string, KubeconfigFacts>;
  /** Key files that exist (stat only; CA keys are also matched against their certificate). */
  keysPresent: Set<string>;
  /** CA certificate path -> the key file that matches it, read only to compare public keys. */
  caKeyCandidates: Map<string, Buffer>;
  /** Files in the scanned folders and files the components name. */
  scannedFiles: string[];
  warnings: string[];
}

// One command: the processes of this host (same UTS namespace as the shell: containers of hostNetwork
// static pods share it, other machines' namespaces on a shared kernel do not), then unit and manifest
// names. grep picks candidate command lines first so only a handful of base64 calls run.
const PROC_SCRIPT = `
self=$(readlink /proc/self/ns/uts)
for f in $(grep -l -a -E '${COMPONENTS.join('|')}' /proc/[0-9]*/cmdline 2>/dev/null); do
  d=\${f%/cmdline}
  [ "$(readlink "$d/ns/uts" 2>/dev/null)" = "$self" ] || continue
  c=$(base64 -w0 < "$d/cmdline" 2>/dev/null) || continue
  printf 'P\\t%s\\t%s\\t%s\\t%s\\n' "\${d#/proc/}" "$c" "$(base64 -w0 < "$d/environ" 2>/dev/null)" "$(base64 -w0 < "$d/cgroup" 2>/dev/null)"
done
for f in ${UNIT_DIRS.map((d) => `${shellQuote(d)}/*.service ${shellQuote(d)}/*.service.d/*.conf`).join(' ')}; do [ -f "$f" ] && printf 'U\\t%s\\n' "$f"; done
for f in /etc/init.d/*; do [ -f "$f" ] && printf 'I\\t%s\\n' "$f"; done
for f in ${shellQuote(MANIFEST_DIR)}/*.yaml ${shellQuote(MANIFEST_DIR)}/*.yml ${shellQuote(MANIFEST_DIR)}/*.json; do [ -f "$f" ] && printf 'M\\t%s\\n' "$f"; done
true`;

const nulSplit = (b64: string): string[] => Buffer.from(b64, 'base64').toString('utf8').split('\0').filter((s, i, a) => s !== '' || i < a.length - 1);

/** Reads one host. Throws only when the host cannot be listed at all; unreadable files become warnings. */
export async function collectHost(transport: Transport, options: { become?: boolean } = {}): Promise<HostFacts> {
  const become = options.become;
  const warnings: string[] = [];
  const listing = await transport.exec(PROC_SCRIPT, { become });
  const processes: ProcessInfo[] = [];
  const unitPaths: string[] = [];
  const manifestPaths: string[] = [];
  const initPaths: string[] = [];
  for (const line of listing.stdout.split('\n')) {
    const [tag, ...rest] = line.split('\t');
    if (tag === 'P' && rest.length >= 2) {
      const env: Record<string, string> = {};
      for (const kv of nulSplit(rest[2] ?? '')) {
        const eq = kv.indexOf('=');
        if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
      }
      processes.push({ pid: Number(rest[0]), argv: nulSplit(rest[1] ?? '').filter(Boolean), env, cgroup: Buffer.from(rest[3] ?? '', 'base64').toString('utf8') });
    } else if (tag === 'U' && rest[0]) unitPaths.push(rest[0]);
    else if (tag === 'M' && rest[0]) manifestPaths.push(rest[0]);
    else if (tag === 'I' && rest[0]) initPaths.push(rest[0]);
  }

  const text = new Map<string, string | undefined>();
  const readText = async (path: string): Promise<string | undefined> => {
    if (!text.has(path)) text.set(path, await transport.readFile(path, { become }).then((b) => b.toString('utf8'), () => undefined));
    return text.get(path);
  };

  // Units worth reading: those of the components' binaries or cgroups (their names say so, or their cgroup does).
  const cgroupUnits = new Set(processes.map((p) => unitOfCgroup(p.cgroup)).filter((u): u is string => !!u));
  const unitNames = [...new Set(unitPaths.filter((p) => p.endsWith('.service')).map((p) => posix.basename(p, '.service')))];
  const relevant = (name: string) => cgroupUnits.has(name) || /etcd|kube/.test(name);
  const units: UnitFile[] = [];
  for (const name of unitNames.filter(relevant)) {
    // The first unit directory wins (systemd's order: /etc before /run before /usr/lib).
    const main = unitPaths.find((p) => posix.basename(p) === `${name}.service`)!;
    const body = await readText(main);
    if (body === undefined) continue;
    const dropIns = [];
    for (const p of unitPaths.filter((q) => posix.dirname(q).endsWith(`/${name}.service.d`)).sort((a, b) => posix.basename(a).localeCompare(posix.basename(b)))) {
      const t = await readText(p);
      if (t !== undefined) dropIns.push({ path: p, text: t });
    }
    units.push({ path: main, text: body, dropIns });
  }
  const manifests = [];
  for (const p of manifestPaths) {
    const t = await readText(p);
    if (t !== undefined) manifests.push({ path: p, text: t });
  }

  // Config and environment files a component names are read before resolving (resolve is synchronous).
  const prefetch = new Set<string>();
  for (const p of processes) {
    const args = p.argv.join('\n');
    for (const m of args.matchAll(/--(?:config-file|config)[=\n]([^\n]+)/g)) prefetch.add(m[1]!);
    if (p.env['ETCD_CONFIG_FILE']) prefetch.add(p.env['ETCD_CONFIG_FILE']);
  }
  for (const u of units) for (const m of `${u.text}\n${(u.dropIns ?? []).map((d) => d.text).join('\n')}`.matchAll(/^[ \t]*EnvironmentFile[ \t]*=[ \t]*-?(\S+)/gm)) prefetch.add(m[1]!);
  for (const p of prefetch) await readText(p);
  const initScripts = [];
  for (const p of initPaths.filter((q) => /etcd|kube/.test(posix.basename(q)))) {
    const t = await readText(p);
    if (t !== undefined) initScripts.push({ path: p, text: t });
  }
  const configFiles: HostConfigFiles = { manifests, units, initScripts, read: (p) => text.get(p) };

  const components: ComponentInstance[] = [];
  for (const p of processes) {
    const c = resolveComponent(p, configFiles);
    if (!c) continue;
    components.push(c);
    warnings.push(...c.warnings);
  }

  // Kubeconfigs the components name, and every kubeconfig-looking file in /etc/kubernetes (admin.conf).
  const kubeconfigs = new Map<string, KubeconfigFacts>();
  const named = new Set<string>();
  const certFiles = new Set<string>();
  const keyFiles = new Set<string>();
  for (const c of components) {
    for (const s of KUBECONFIG_SETTINGS[c.name]) if (c.settings[s]) named.add(c.settings[s]!.value);
    for (const s of CERT_SETTINGS[c.name]) if (c.settings[s]) certFiles.add(c.settings[s]!.value);
    for (const [cert, key] of Object.entries(KEY_OF)) if (c.settings[cert] && c.settings[key]) keyFiles.add(c.settings[key]!.value);
  }
  const scanDirs = [...new Set([...DISCOVER_PKI_DIRS, ...[...certFiles].map((f) => posix.dirname(f))])];
  let scanned: string[] = [];
  try {
    scanned = await listCertificateFiles(transport, scanDirs, { become });
  } catch (err) {
    warnings.push(`cannot list ${scanDirs.join(', ')}: ${(err as Error).message}`);
  }
  const files = new Map<string, Buffer>();
  for (const path of new Set([...named, ...certFiles, ...scanned])) {
    try {
      files.set(path, await transport.readFile(path, { become }));
    } catch (err) {
      if (named.has(path) || certFiles.has(path)) warnings.push(`${path}: named by a component but cannot be read: ${(err as Error).message}`);
    }
  }
  for (const [path, body] of files) {
    const k = kubeconfigFacts(path, body.toString('utf8'));
    if (!k) continue;
    kubeconfigs.set(path, k);
    for (const f of [k.caFile, k.clientCertFile]) {
      if (f && !files.has(f)) {
        try {
          files.set(f, await transport.readFile(f, { become }));
        } catch (err) {
          warnings.push(`${f}: named by ${path} but cannot be read: ${(err as Error).message}`);
        }
      }
    }
    if (k.clientKeyFile) keyFiles.add(k.clientKeyFile);
  }
  for (const f of named) if (!kubeconfigs.has(f) && files.has(f)) warnings.push(`${f}: named as a kubeconfig but it does not parse as one`);

  await dropAliases(transport, files, kubeconfigs, new Set([...named, ...certFiles, ...referencedBy(kubeconfigs)]), warnings, become);
  scanned = scanned.filter((p) => files.has(p));

  // Keys: existence only, except a CA's key, compared with its certificate by the caller.
  const keysPresent = new Set<string>();
  const candidates = new Set<string>(keyFiles);
  for (const f of files.keys()) candidates.add(defaultKeyOf(f));
  for (const k of candidates) if (await transport.stat(k, { become }).then((s) => !!s?.isFile, () => false)) keysPresent.add(k);
  return { host: transport.host, components, unitNames, files, kubeconfigs, keysPresent, caKeyCandidates: new Map(), scannedFiles: [...new Set([...scanned, ...files.keys()])].sort(), warnings };
}

/** Files the kubeconfigs name (their CA and client certificate). */
function referencedBy(kubeconfigs: Map<string, KubeconfigFacts>): string[] {
  return [...kubeconfigs.values()].flatMap((k) => [k.caFile, k.clientCertFile]).filter((f): f is string => !!f);
}

/**
 * One file reached under several paths (a symlinked folder: kubespray's /etc/kubernetes/pki ->
 * /etc/kubernetes/ssl) is one file, not a second copy held by some extra client. Per file, the paths
 * a component or kubeconfig names are kept; when none is named, the resolved path (or the first
 * found); the other paths, if they read the same bytes, are dropped from `files` and `kubeconfigs`.
 * A host where paths cannot be resolved keeps them all, with a warning.
 */
async function dropAliases(transport: Transport, files: Map<string, Buffer>, kubeconfigs: Map<string, KubeconfigFacts>, named: Set<string>, warnings: string[], become?: boolean): Promise<void> {
  let canonical: Map<string, string>;
  try {
    canonical = await canonicalPaths(transport, [...files.keys()], { become });
  } catch (err) {
    warnings.push(`symlinked paths cannot be told apart: ${(err as Error).message}`);
    return;
  }
  const groups = new Map<string, string[]>();
  for (const p of files.keys()) {
    const c = canonical.get(p) ?? p;
    groups.set(c, [...(groups.get(c) ?? []), p]);
  }
  for (const [c, paths] of groups) {
    if (paths.length < 2) continue;
    const keep = paths.filter((p) => named.has(p));
    if (keep.length === 0) keep.push(paths.includes(c) ? c : paths[0]!);
    const kept = files.get(keep[0]!)!;
    for (const p of paths) {
      // Dropped only when it reads the same bytes: whatever a host's readlink says, two files that
      // differ are both reported.
      if (keep.includes(p) || !files.get(p)!.equals(kept)) continue;
      files.delete(p);
      kubeconfigs.delete(p);
    }
  }
}

/** Reads the candidate key files of CA certificates, to prove which key signs with which CA. */
export async function readCaKeys(transport: Transport, facts: HostFacts, caPaths: Iterable<string>, keyOf: (caPath: string) => string, options: { become?: boolean } = {}): Promise<void> {
  for (const ca of caPaths) {
    const key = keyOf(ca);
    if (!facts.keysPresent.has(key)) continue;
    try {
      facts.caKeyCandidates.set(ca, await transport.readFile(key, { become: options.become }));
    } catch (err) {
      facts.warnings.push(`${key}: cannot be read to match it with ${ca}: ${(err as Error).message}`);
    }
  }
}

/** foo.crt -> foo.key, foo.pem -> foo-key.pem (kubeadm and cfssl naming). */
export function defaultKeyOf(certPath: string): string {
  if (/\.(crt|cert)$/.test(certPath)) return certPath.replace(/\.(crt|cert)$/, '.key');
  if (certPath.endsWith('.pem')) return certPath.replace(/\.pem$/, '-key.pem');
  return `${certPath}.key`;
}

/** How a kubeconfig holds its CA and client certificate; null when the text is not a kubeconfig. */
export function kubeconfigFacts(path: string, text: string): KubeconfigFacts | null {
  if (!/\bkind:\s*Config\b/.test(text) && !/\bclusters:/.test(text)) return null;
  let doc: { clusters?: { cluster?: Record<string, unknown> }[]; users?: { user?: Record<string, unknown> }[] } | null;
  try {
    doc = parseYaml(text) as typeof doc;
  } catch {
    return null;
  }
  if (!doc || !Array.isArray(doc.clusters)) return null;
  const resolve = (p: unknown) => (typeof p === 'string' && p ? (posix.isAbsolute(p) ? p : posix.join(posix.dirname(path), p)) : undefined);
  const cluster = doc.clusters[0]?.cluster ?? {};
  const user = (doc.users ?? []).find((u) => u.user?.['client-certificate'] || u.user?.['client-certificate-data'])?.user ?? {};
  return {
    path,
    caFile: resolve(cluster['certificate-authority']),
    caEmbedded: typeof cluster['certificate-authority-data'] === 'string',
    clientCertFile: resolve(user['client-certificate']),
    clientKeyFile: resolve(user['client-key']),
    clientCertEmbedded: typeof user['client-certificate-data'] === 'string',
  };
}
