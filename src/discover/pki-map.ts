/**
 * The PKI map: every certificate found on every host, the CA that issued it (by signature and
 * AKI/SKI, never by name), the processes that read it and where that setting lives. Pure: built
 * from HostFacts (src/discover/collect.ts).
 */
import { posix } from 'node:path';
import { isIssuedBy, type Certificate } from '../pki/certificate.js';
import { keyMatchesSpki, loadPrivateKey } from '../pki/keys.js';
import { extractCertificates } from '../tasks/shared/cert-scan.js';
import { CERT_SETTINGS, KEY_OF, KUBECONFIG_SETTINGS, type ComponentInstance, type ComponentName, type SettingSource } from './components.js';
import type { HostFacts } from './collect.js';

export type CaRole = 'kubernetes' | 'etcd' | 'front-proxy';

export interface CaInfo {
  /** `kubernetes`, `etcd`, `front-proxy`, or `other-N` for a CA no component uses as one of those. */
  id: string;
  role?: CaRole;
  subject: string;
  fingerprintSha256: string;
  notAfter: string;
  /** Where its certificate is (CA files and trust bundles that hold it). */
  files: { host: string; path: string }[];
  /** Key files proven to match it (public key compared): the hosts that can sign with it. */
  keys: { host: string; path: string }[];
}

export interface Reader {
  component: ComponentName;
  /** The setting that names the file: `--tls-cert-file`, `client-transport-security.trusted-ca-file`, `kubeconfig user client-certificate`. */
  setting: string;
  /** Where the setting lives (file + kind + key); for kubeconfig references, the kubeconfig. */
  where: SettingSource | { kind: 'kubeconfig'; file: string; key: string };
}

export interface MapEntry {
  host: string;
  path: string;
  /** Where in the file: `pem`, `pem#2`, `client-certificate-data`, `certificate-authority-data`. */
  source: string;
  subject: string;
  notAfter: string;
  kind: 'ca' | 'leaf';
  /** The CA id that issued it (a CA certificate: itself when self-signed). */
  issuer?: string;
  readers: Reader[];
  /**
   * component: a running component reads it; layout: in a component's PKI folder, read by none
   * (kubeadm's admin.conf, healthcheck-client.crt); extra-client: elsewhere and read by none
   * (a monitoring client's, a backup job's); unclassified: no CA found issued it.
   */
  role: 'component' | 'layout' | 'extra-client' | 'unclassified';
}

export interface HostSummary {
  host: string;
  components: Pick<ComponentInstance, 'name' | 'pid' | 'flagsIn' | 'configFile' | 'restart' | 'precedence' | 'settings'>[];
}

export interface PkiMap {
  cas: CaInfo[];
  entries: MapEntry[];
  hosts: HostSummary[];
  warnings: string[];
}

function readersOf(facts: HostFacts): Map<string, Reader[]> {
  const readers = new Map<string, Reader[]>();
  const add = (path: string, r: Reader) => readers.set(path, [...(readers.get(path) ?? []), r]);
  for (const c of facts.components) {
    for (const s of CERT_SETTINGS[c.name]) {
      const setting = c.settings[s];
      if (setting) add(setting.value, { component: c.name, setting: setting.source.key, where: setting.source });
    }
    for (const s of KUBECONFIG_SETTINGS[c.name]) {
      const setting = c.settings[s];
      if (!setting) continue;
      const k = facts.kubeconfigs.get(setting.value);
      if (!k || readers.get(k.path)?.some((r) => r.component === c.name)) continue;
      add(k.path, { component: c.name, setting: setting.source.key, where: setting.source });
      if (k.caFile) add(k.caFile, { component: c.name, setting: 'certificate-authority', where: { kind: 'kubeconfig', file: k.path, key: 'clusters[0].cluster.certificate-authority' } });
      if (k.clientCertFile) add(k.clientCertFile, { component: c.name, setting: 'client-certificate', where: { kind: 'kubeconfig', file: k.path, key: 'users[0].user.client-certificate' } });
    }
  }
  return readers;
}

/** The component folders of a host: where the files the components name live (their PKI and kubeconfig folders). */
export function componentFolders(readers: Map<string, Reader[]>): Set<string> {
  return new Set([...readers.keys()].map((p) => posix.dirname(p)));
}

/** The CA roles, from what the components use each CA for. */
function caRoles(facts: HostFacts[], caOf: (host: string, path: string) => Certificate | undefined): Map<string, CaRole> {
  const roles = new Map<string, CaRole>();
  const setting = (c: ComponentName, s: string) => {
    for (const f of facts) for (const comp of f.components) if (comp.name === c && comp.settings[s]) return caOf(f.host, comp.settings[s]!.value);
    return undefined;
  };
  const k8s = setting('kube-controller-manager', 'cluster-signing-cert-file') ?? setting('kube-apiserver', 'client-ca-file') ?? setting('kubelet', 'client-ca-file');
  const etcd = setting('etcd', 'trusted-ca-file') ?? setting('kube-apiserver', 'etcd-cafile');
  const fp = setting('kube-apiserver', 'requestheader-client-ca-file');
  if (k8s) roles.set(k8s.fingerprintSha256, 'kubernetes');
  if (etcd && !roles.has(etcd.fingerprintSha256)) roles.set(etcd.fingerprintSha256, 'etcd');
  if (fp && !roles.has(fp.fingerprintSha256)) roles.set(fp.fingerprintSha256, 'front-proxy');
  return roles;
}

const keyIdMatches = (cert: Certificate, ca: Certificate) => !cert.authorityKeyId || !ca.subjectKeyId || cert.authorityKeyId.equals(ca.subjectKeyId);

/** Builds the map from every host's facts. `keyOf` gives a CA certificate's candidate key path. */
export function buildPkiMap(facts: HostFacts[]): PkiMap {
  const warnings: string[] = [];
  const parsed: { host: string; path: string; source: string; cert: Certificate }[] = [];
  for (const f of facts) {
    for (const [path, body] of f.files) {
      try {
        const found = extractCertificates(path, body);
        for (const c of found) parsed.push({ host: f.host, path, source: c.source, cert: c.certificate });
        if (found.length === 0 && /\.(crt|cert|pem)$/.test(path) && !body.includes('PRIVATE KEY-----')) {
          warnings.push(`${f.host}:${path}: cannot classify: named like a certificate but holds none`);
        }
      } catch (err) {
        warnings.push(`${f.host}:${path}: cannot classify: it does not parse: ${(err as Error).message}`);
      }
    }
  }
  const byFile = (host: string, path: string) => parsed.find((p) => p.host === host && p.path === path && p.source.startsWith('pem'))?.cert;
  const roles = caRoles(facts, byFile);

  // CAs: every CA certificate found, by fingerprint.
  const cas = new Map<string, CaInfo & { cert: Certificate }>();
  let other = 0;
  for (const p of parsed.filter((q) => q.cert.isCa)) {
    let ca = cas.get(p.cert.fingerprintSha256);
    if (!ca) {
      const role = roles.get(p.cert.fingerprintSha256);
      ca = { id: role ?? `other-${++other}`, role, subject: p.cert.subjectText, fingerprintSha256: p.cert.fingerprintSha256, notAfter: p.cert.notAfter.toISOString(), files: [], keys: [], cert: p.cert };
      cas.set(p.cert.fingerprintSha256, ca);
    }
    ca.files.push({ host: p.host, path: p.path });
  }
  for (const f of facts) {
    for (const [caPath, keyPem] of f.caKeyCandidates) {
      const cert = byFile(f.host, caPath);
      const ca = cert && cas.get(cert.fingerprintSha256);
      if (!ca) continue;
      try {
        if (keyMatchesSpki(loadPrivateKey(keyPem, caPath), cert.spkiDer)) ca.keys.push({ host: f.host, path: keyPathFor(f, caPath) });
        else warnings.push(`${f.host}:${keyPathFor(f, caPath)} does not match the CA ${caPath}`);
      } catch (err) {
        warnings.push(`${f.host}: the key beside ${caPath} cannot be read as a private key: ${(err as Error).message}`);
      }
    }
  }

  const entries: MapEntry[] = [];
  for (const f of facts) {
    const readers = readersOf(f);
    const folders = componentFolders(readers);
    for (const p of parsed.filter((q) => q.host === f.host)) {
      const issuer = [...cas.values()].find((ca) => keyIdMatches(p.cert, ca.cert) && isIssuedBy(p.cert, ca.cert));
      const r = readers.get(p.path) ?? [];
      let role: MapEntry['role'];
      if (!issuer) role = 'unclassified';
      else if (r.length > 0) role = 'component';
      else if (folders.has(posix.dirname(p.path))) role = 'layout';
      else role = 'extra-client';
      if (role === 'unclassified') {
        warnings.push(`${f.host}:${p.path}${p.source.startsWith('pem') ? '' : ` (${p.source})`}: cannot classify ${p.cert.subjectText}: issued by none of the CAs found (${p.cert.issuerText})`);
      }
      entries.push({
        host: f.host,
        path: p.path,
        source: p.source,
        subject: p.cert.subjectText,
        notAfter: p.cert.notAfter.toISOString(),
        kind: p.cert.isCa ? 'ca' : 'leaf',
        issuer: issuer?.id,
        readers: r,
        role,
      });
    }
    for (const [path, rs] of readers) {
      if (!f.files.has(path)) warnings.push(`${f.host}:${path}: named by ${rs.map((x) => `${x.component} ${x.setting}`).join(', ')} but missing`);
    }
  }
  for (const f of facts) warnings.push(...f.warnings.map((w) => `${f.host}: ${w}`));
  // Per-signer pairs (--cluster-signing-<signer>-cert-file): the stock switch-signers stage writes the
  // new Kubernetes CA into those holding the cluster CA (a copy, or the CA files themselves) and
  // refuses any other CA, so only that case is worth a warning before a run.
  const clusterCa = [...roles].find(([, role]) => role === 'kubernetes')?.[0];
  for (const c of ['kubelet-client', 'kubelet-serving', 'kube-apiserver-client', 'legacy-unknown']) {
    for (const f of facts) {
      const kcm = f.components.find((x) => x.name === 'kube-controller-manager');
      const s = kcm?.settings[`cluster-signing-${c}-cert-file`];
      if (!s) continue;
      const held = byFile(f.host, s.value);
      if (held && held.fingerprintSha256 === clusterCa) continue;
      const what = held ? `holds ${held.subjectText}, not the cluster CA` : 'holds no readable certificate';
      warnings.push(`${f.host}: kube-controller-manager signs ${c} CSRs with ${s.value} (${s.source.key}), which ${what}: the stock switch-signers stage refuses it (rotate that signer's CA on its own)`);
    }
  }
  return {
    cas: [...cas.values()].map(({ cert: _cert, ...rest }) => rest),
    entries,
    hosts: facts.map((f) => ({ host: f.host, components: f.components.map((c) => ({ name: c.name, pid: c.pid, flagsIn: c.flagsIn, configFile: c.configFile, restart: c.restart, precedence: c.precedence, settings: fileSettings(c) })) })),
    warnings: [...new Set(warnings)],
  };
}

/**
 * The settings that name certificates, keys, kubeconfigs and config files: what the map reports per
 * component. Other flags and variables stay out of the output (an environment may hold secrets).
 */
function fileSettings(c: ComponentInstance): ComponentInstance['settings'] {
  const names = new Set([...CERT_SETTINGS[c.name], ...KUBECONFIG_SETTINGS[c.name], ...Object.values(KEY_OF), 'config-file', 'config']);
  return Object.fromEntries(Object.entries(c.settings).filter(([n]) => names.has(n)));
}

/** The CA key path discover compares: the signing key flag beside a signing cert flag, else the conventional name. */
export function keyPathFor(facts: HostFacts, caPath: string): string {
  for (const c of facts.components) {
    for (const [cert, key] of [['cluster-signing-cert-file', 'cluster-signing-key-file']] as const) {
      if (c.settings[cert]?.value === caPath && c.settings[key]) return c.settings[key]!.value;
    }
  }
  return caPath.replace(/\.(crt|cert)$/, '.key').replace(/(?<!\.key)\.pem$/, '-key.pem');
}
