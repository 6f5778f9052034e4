/**
 * The variables the stock playbooks read (playbooks/layouts/*.yaml, `layout`, `extra_clients`),
 * derived from what discover found. Pure. The reference host is the first one running an
 * apiserver (else etcd): the stock layouts assume every control-plane host is laid out alike, and
 * a path that differs on another host is a warning.
 */
import { posix } from 'node:path';
import { shellQuote } from '../core/shell.js';
import { CERT_SETTINGS, type ComponentInstance, type ComponentName, type RestartMethod, type SettingSource } from './components.js';
import { defaultKeyOf, type HostFacts } from './collect.js';
import type { CaRole, MapEntry, PkiMap } from './pki-map.js';

export type LayoutVars = Record<string, unknown>;

const COMPONENT_VAR: Record<Exclude<ComponentName, 'kubelet'>, string> = {
  'etcd': 'etcd',
  'kube-apiserver': 'apiserver',
  'kube-controller-manager': 'controller_manager',
  'kube-scheduler': 'scheduler',
};

/** ca.crt -> ca-bundle.crt, ca-etcd.pem -> ca-etcd-bundle.pem: where kcarun puts the new+old bundle. */
export function bundlePathFor(caPath: string): string {
  const ext = posix.extname(caPath);
  return `${caPath.slice(0, caPath.length - ext.length)}-bundle${ext}`;
}

/**
 * A restart var as the stock layouts write it. Static pods restart `auto` with a grace period, as
 * playbooks/layouts/kubeadm.yaml does (docs/restarts.md: a bare `crictl stop` is a SIGKILL; etcd gets
 * 10 s to close its raft and WAL cleanly, the others 5 s); kube-apiserver's graceful stop is cut to
 * its drain once it closed its port (`drainPort`, the playbook's apiserver_port: docs/restarts.md),
 * under systemd too (a `kube-apiserver` unit).
 */
const restartVar = (r: RestartMethod): Record<string, string | number> =>
  r.method === 'static-pod'
    ? {
        method: 'static-pod', container: r.container, strategy: 'auto', stopTimeoutSeconds: r.container === 'etcd' ? 10 : 5,
        ...(r.container === 'kube-apiserver' ? { drainPort: '{{ apiserver_port }}' } : {}),
      }
    : r.method === 'systemd'
      ? { method: 'systemd', unit: r.unit, ...(r.unit.replace(/\.service$/, '') === 'kube-apiserver' ? { drainPort: '{{ apiserver_port }}', stopTimeoutSeconds: 5 } : {}) }
      : r.method === 'command' ? { method: 'command', command: r.command } : { method: 'unknown' };

/** The set-flag `in:` target for a setting's source kind; undefined where set-flag cannot edit it. */
const SET_FLAG_IN: Partial<Record<SettingSource['kind'], string>> = {
  'manifest-flag': 'manifest',
  'unit-flag': 'unit',
  'etcd-config': 'etcd-config',
  'env-file': 'env-file',
  'kubelet-config': 'kubelet-config',
};

/** Per component: the trust setting whose file and kind say where the stock stages edit it, and the vars that carry it. */
const TRUST_TARGET: { component: Exclude<ComponentName, 'kubelet'>; setting: string; inVar: string; fileVar: string }[] = [
  { component: 'etcd', setting: 'trusted-ca-file', inVar: 'etcd_trust_in', fileVar: 'etcd_config' },
  { component: 'kube-apiserver', setting: 'client-ca-file', inVar: 'apiserver_flags_in', fileVar: 'apiserver_config' },
  { component: 'kube-controller-manager', setting: 'root-ca-file', inVar: 'controller_manager_flags_in', fileVar: 'controller_manager_config' },
];

/**
 * Where each component's trust settings live on the reference host (informational until set-flag
 * edits etcd YAML config and env files too): component -> setting -> { file, kind, key }.
 */
function trustSettings(components: ComponentInstance[]): Record<string, Record<string, SettingSource & { value: string }>> {
  const trust = /(^|-)(trusted-ca-file|client-ca-file|cafile|certificate-authority|root-ca-file|cluster-signing-cert-file)$/;
  const out: Record<string, Record<string, SettingSource & { value: string }>> = {};
  for (const c of components) {
    for (const [name, s] of Object.entries(c.settings)) if (trust.test(name)) (out[c.name] ??= {})[name] = { ...s.source, value: s.value };
  }
  return out;
}

export interface VarsResult {
  vars: LayoutVars;
  warnings: string[];
}

/**
 * Whether an apiserver's --etcd-servers (comma-separated URLs) names one member only, and that one is
 * the host's own: a loopback URL (kubeadm's https://127.0.0.1:2379) or one of the local etcd's
 * listen/advertise client URLs (`localEtcdUrls`). False when empty or unparsable.
 */
export function localEtcdOnly(etcdServers: string | undefined, localEtcdUrls: string[]): boolean {
  const hostPort = (u: string): string | null => {
    try {
      const url = new URL(u.trim());
      return `${url.hostname}:${url.port || '2379'}`;
    } catch {
      return null;
    }
  };
  const list = (etcdServers ?? '').split(',').map((u) => u.trim()).filter(Boolean);
  if (list.length !== 1) return false;
  const target = hostPort(list[0]!);
  if (!target) return false;
  const host = target.slice(0, target.lastIndexOf(':'));
  return host === 'localhost' || host === '[::1]' || /^127\./.test(host) || localEtcdUrls.map(hostPort).includes(target);
}

/** The vars, or a warning-only result when nothing on any host ran an apiserver or etcd. */
export function layoutVars(map: PkiMap, facts: HostFacts[]): VarsResult {
  const warnings: string[] = [];
  const ref = facts.find((f) => f.components.some((c) => c.name === 'kube-apiserver')) ?? facts.find((f) => f.components.some((c) => c.name === 'etcd'));
  if (!ref) return { vars: {}, warnings: ['no host runs kube-apiserver or etcd: no layout vars to write'] };
  const comp = (n: ComponentName) => ref.components.find((c) => c.name === n);
  const setting = (n: ComponentName, s: string) => comp(n)?.settings[s]?.value;
  // A trust file holding several CAs is a bundle (mid-rotation, or by design): never the CA file itself.
  const isBundle = (p: string) => (ref.files.get(p)?.toString('utf8').match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0) > 1;
  const caFile = (role: CaRole) => {
    const ca = map.cas.find((c) => c.role === role);
    if (!ca) return undefined;
    // The file the components name for it (signing cert / trusted CA), else the first file holding it alone.
    const preferred = {
      kubernetes: [setting('kube-controller-manager', 'cluster-signing-cert-file'), setting('kube-apiserver', 'client-ca-file')],
      etcd: [setting('etcd', 'trusted-ca-file'), setting('kube-apiserver', 'etcd-cafile')],
      'front-proxy': [setting('kube-apiserver', 'requestheader-client-ca-file')],
    }[role].filter((p): p is string => !!p && !isBundle(p));
    return { ca, path: preferred[0] ?? ca.files.find((f) => f.host === ref.host && !isBundle(f.path))?.path };
  };
  const k8s = caFile('kubernetes');
  const etcd = caFile('etcd');
  const fp = caFile('front-proxy');
  const keyOn = (c: ReturnType<typeof caFile>) => c?.ca.keys.find((k) => k.host === ref.host)?.path;
  // Where the new CA's key would go: the key found, else the usual name beside the CA (foo.crt -> foo.key).
  // The switch stages upload it only where such a file already exists (onlyIfExists), so on hosts that
  // never held the key nothing is written.
  const keyPathOf = (c: NonNullable<ReturnType<typeof caFile>>) => keyOn(c) ?? defaultKeyOf(c.path!);

  const apiserver = comp('kube-apiserver');
  const flagsIn = (apiserver ?? comp('etcd'))!.flagsIn;
  // kubespray: kubeadm's static pods, but etcd a systemd unit configured by its environment file
  // (/etc/etcd.env: roles/etcd/templates/etcd-host.service.j2); its profile (playbooks/layouts/kubespray.yaml)
  // then fills what discover does not write.
  const kubespray = flagsIn === 'manifest' && comp('etcd')?.flagsIn === 'unit' && comp('etcd')?.settings['trusted-ca-file']?.source.kind === 'env-file';
  const layout = kubespray ? 'kubespray' : flagsIn === 'manifest' ? 'kubeadm' : 'binary';
  if (apiserver && flagsIn === 'process') warnings.push(`${ref.host}: the apiserver's flags are in no manifest or unit; the vars assume the binary layout`);

  const vars: LayoutVars = { layout, flags_in: flagsIn === 'manifest' ? 'manifest' : 'unit' };
  // The port the stock health gates dial and service-restart drains: the apiserver's own
  // --secure-port (default 6443, k8s.io/apiserver pkg/server/options/serving.go). Not the default
  // blindly: a load balancer on :6443 of the same host (a co-located haproxy or kube-vip, the
  // apiserver moved to 8443) would answer the gates while this host's apiserver is down.
  if (apiserver) {
    const port = apiserverPort(apiserver);
    if (typeof port === 'number') vars['apiserver_port'] = port;
    else warnings.push(`${ref.host}: kube-apiserver --secure-port=${port.bad} is not a TCP port: set apiserver_port`);
    for (const f of facts) {
      const other = f.components.find((c) => c.name === 'kube-apiserver');
      if (f !== ref && other && JSON.stringify(apiserverPort(other)) !== JSON.stringify(port)) warnings.push(`${f.host}: kube-apiserver --secure-port ${JSON.stringify(apiserverPort(other))} differs from ${ref.host}'s: set apiserver_port in that host's vars`);
    }
  }
  if (k8s?.path) Object.assign(vars, { k8s_ca_cert: k8s.path, k8s_ca_key: keyPathOf(k8s), k8s_ca_bundle: bundlePathFor(k8s.path) });
  if (etcd?.path) Object.assign(vars, { etcd_ca_cert: etcd.path, etcd_ca_key: keyPathOf(etcd), etcd_ca_bundle: bundlePathFor(etcd.path) });
  vars['has_front_proxy_ca'] = !!fp?.path;
  if (fp?.path) Object.assign(vars, { front_proxy_ca_cert: fp.path, front_proxy_ca_key: keyPathOf(fp), front_proxy_ca_bundle: bundlePathFor(fp.path) });

  for (const [name, v] of Object.entries(COMPONENT_VAR) as [Exclude<ComponentName, 'kubelet'>, string][]) {
    const c = comp(name);
    if (!c) continue;
    if (c.configFile && c.flagsIn !== 'init-script') vars[`${v}_config`] = c.configFile;
    vars[`${v}_restart`] = restartVar(c.restart);
    if (c.restart.method === 'unknown') warnings.push(`${ref.host}: ${name}: restart method unknown (neither a static pod, a systemd unit nor an init script)`);
  }
  // Where the trust settings live decides what the stock stages edit: a config or environment file
  // (etcd --config-file, /etc/etcd.env) rather than the manifest or unit, when that is where they are.
  for (const t of TRUST_TARGET) {
    const s = comp(t.component)?.settings[t.setting];
    if (!s) continue;
    const target = SET_FLAG_IN[s.source.kind];
    if (!target || !s.source.file) continue;
    if (target !== (flagsIn === 'manifest' ? 'manifest' : 'unit') || s.source.file !== vars[t.fileVar]) {
      vars[t.inVar] = target;
      vars[t.fileVar] = s.source.file;
    }
  }
  const kubelet = comp('kubelet');
  if (kubelet) vars['kubelet_restart'] = restartVar(kubelet.restart);
  // kubeadm's stacked etcd: a static-pod apiserver whose --etcd-servers names only its host's member
  // cannot serve while that member is replaced, so the stock etcd stages hold it out meanwhile
  // (static-pod-hold; kubeadm phases/controlplane/manifests.go:229-236 writes https://127.0.0.1:2379).
  const localEtcdUrls = ['listen-client-urls', 'advertise-client-urls'].flatMap((f) => (setting('etcd', f) ?? '').split(','));
  vars['etcd_restart_holds_apiserver'] = apiserver?.restart.method === 'static-pod' && localEtcdOnly(setting('kube-apiserver', 'etcd-servers'), localEtcdUrls);

  // Leaf certificates (PEM files) by issuing CA, on the reference host; kubelet's separately.
  const refEntries = map.entries.filter((e) => e.host === ref.host);
  const leafFiles = refEntries.filter((e) => e.kind === 'leaf' && e.source === 'pem' && e.role !== 'extra-client' && e.role !== 'unclassified');
  const kubeletKubeconfig = setting('kubelet', 'kubeconfig');
  const kk = kubeletKubeconfig ? ref.kubeconfigs.get(kubeletKubeconfig) : undefined;
  // A client file holding certificate and key (kubelet-client-current.pem) is the kubelet's own rotation: handled through kubelet.conf.
  const combined = (path: string) => ref.files.get(path)?.toString('utf8').includes('PRIVATE KEY-----') ?? false;
  const isKubelets = (e: MapEntry) => e.readers.length > 0 && e.readers.every((r) => r.component === 'kubelet');
  const leaves = leafFiles.filter((e) => !combined(e.path));
  const names = hostNamer(ref, map);
  const byCa = (id: string, kubeletOnes: boolean) => [...new Set(leaves.filter((e) => e.issuer === id && isKubelets(e) === kubeletOnes).map((e) => names.perHost(e.path)))].sort();
  vars['etcd_leaf_certs'] = byCa('etcd', false);
  vars['k8s_leaf_certs'] = byCa('kubernetes', false);
  vars['front_proxy_leaf_certs'] = byCa('front-proxy', false);
  vars['kubelet_leaf_certs'] = [...byCa('kubernetes', true), ...byCa('etcd', true)].sort();

  // Probe credentials: a file pair a health gate can present.
  // etcd's own PKI folders: where the files its certificate settings name live.
  const etcdFolders = new Set(CERT_SETTINGS.etcd.map((s) => setting('etcd', s)).filter((v): v is string => !!v).map((v) => posix.dirname(v)));
  const etcdClients = leaves.filter((e) => e.issuer === 'etcd' && ref.keysPresent.has(keyOf(ref, e.path)));
  const probe = etcdClients.find((e) => e.readers.length === 0 && etcdFolders.has(posix.dirname(e.path))) ?? etcdClients.find((e) => e.readers.some((r) => r.component === 'kube-apiserver')) ?? etcdClients[0];
  if (probe) Object.assign(vars, { etcd_probe_cert: names.perHostOrFirst(probe.path, 'etcd'), etcd_probe_key: names.perHostOrFirst(keyOf(ref, probe.path), 'etcd', probe.path) });
  const admins = (groups: string) => leaves.filter((e) => e.issuer === 'kubernetes' && new RegExp(`O=(${groups})(,|$)`).test(e.subject) && ref.keysPresent.has(keyOf(ref, e.path)));
  // The gates present this pair to the apiserver's /readyz (any authenticated client may read it:
  // the system:public-info-viewer ClusterRole) and to the kubelets' :10250 (where the apiserver's own
  // kubelet client is authorized). An admin file first; else the apiserver's --kubelet-client-certificate
  // pair, the only candidate kubeadm leaves: apiserver-kubelet-client.crt carries no O= group (kubeadm
  // v1.37.2 cmd/kubeadm/app/phases/certs/certlist.go KubeadmCertKubeletClient; the kubelets authorize
  // it by CN, phases/bootstraptoken/node/tlsbootstrap.go: system:kubelet-api-admin) and admin.conf
  // embeds the admin certificate (seen on the genuine lab cluster, session 15).
  const kubeletClient = leaves.find((e) => e.issuer === 'kubernetes' && e.path === setting('kube-apiserver', 'kubelet-client-certificate') && ref.keysPresent.has(keyOf(ref, e.path)));
  const apiProbe = admins('kubeadm:cluster-admins')[0] ?? admins('system:masters')[0] ?? kubeletClient;
  if (apiProbe) Object.assign(vars, { apiserver_probe_cert: names.perHostOrFirst(apiProbe.path, 'control_plane'), apiserver_probe_key: names.perHostOrFirst(keyOf(ref, apiProbe.path), 'control_plane', apiProbe.path) });
  else if (apiserver) warnings.push(`${ref.host}: no client certificate file for the apiserver health gate (an admin one, O=kubeadm:cluster-admins or system:masters, or the apiserver's --kubelet-client-certificate pair); set apiserver_probe_cert/key`);

  // Kubeconfigs: those beside the kubelet's (the control plane's and the admins'), and the kubelet's.
  const kubeconfigDirs = new Set([...ref.kubeconfigs.keys()].filter((k) => k !== kubeletKubeconfig).map((k) => posix.dirname(k)));
  const cpKubeconfigs = [...ref.kubeconfigs.values()].filter((k) => k.path !== kubeletKubeconfig && kubeconfigDirs.has(posix.dirname(k.path)) && (k.clientCertEmbedded || k.clientCertFile)).map((k) => k.path).sort();
  vars['control_plane_kubeconfigs'] = cpKubeconfigs;
  if (kubeletKubeconfig) vars['kubelet_kubeconfig'] = kubeletKubeconfig;
  // The one trust-/finalize-controller-manager change with its flags (one restart for both).
  const cmKubeconfig = setting('kube-controller-manager', 'kubeconfig');
  if (cmKubeconfig) vars['controller_manager_kubeconfig'] = cmKubeconfig;
  if (ref.kubeconfigs.size > 0) vars['kubeconfig_ca_embedded'] = [...ref.kubeconfigs.values()].every((k) => k.caEmbedded);
  vars['embedded_client_cert_kubeconfigs'] = cpKubeconfigs.filter((p) => ref.kubeconfigs.get(p)!.clientCertEmbedded);
  vars['kubelet_embedded_kubeconfigs'] = kk && (kk.clientCertEmbedded || (kk.clientCertFile && kk.clientCertFile === kk.clientKeyFile)) ? [kk.path] : [];
  if (setting('kubelet', 'config')) vars['kubelet_config'] = setting('kubelet', 'config');
  const adminOf = (groups: string) =>
    cpKubeconfigs.find((p) => map.entries.some((e) => e.host === ref.host && e.path === p && e.source === 'client-certificate-data' && new RegExp(`O=(${groups})(,|$)`).test(e.subject))) ??
    cpKubeconfigs.find((p) => {
      const f = ref.kubeconfigs.get(p)!.clientCertFile;
      return !!f && refEntries.some((e) => e.path === f && new RegExp(`O=(${groups})(,|$)`).test(e.subject));
    });
  const admin = adminOf('kubeadm:cluster-admins') ?? adminOf('system:masters');
  if (admin) vars['admin_kubeconfig'] = admin;

  // Preflight: every leaf with its key and CA, on the group that holds it.
  const caPath: Record<string, string | undefined> = { kubernetes: k8s?.path, etcd: etcd?.path, 'front-proxy': fp?.path };
  const groupOf = (e: MapEntry) =>
    e.readers.some((r) => r.component === 'etcd') || (e.issuer === 'etcd' && e.readers.length === 0 && etcdFolders.has(posix.dirname(e.path)))
      ? '{{ groups.etcd }}'
      : isKubelets(e)
        ? '{{ groups.control_plane | concat: groups.workers }}'
        : '{{ groups.control_plane }}';
  // The serving certificate a kubelet makes for itself when none is configured (<cert-dir>/kubelet.crt,
  // cert-dir /var/lib/kubelet/pki: pkg/kubelet/certificate, kubeadm's default): self-signed unless the
  // cluster uses serverTLSBootstrap, and only on nodes whose kubelet made one; as the kubeadm layout.
  const kubeletMade = (e: MapEntry) => isKubelets(e) && e.path === '/var/lib/kubelet/pki/kubelet.crt';
  // Preflight renders these once, in its `local` stage: a per-host file gets one entry per host that has it.
  vars['preflight_certificates'] = leaves
    .filter((e) => caPath[e.issuer ?? ''])
    .flatMap((e): Record<string, unknown>[] => {
      const extra = kubeletMade(e) ? { optional: true, skipSelfSigned: true } : {};
      if (!names.named(e.path)) return [{ path: e.path, key: keyOf(ref, e.path), ca: caPath[e.issuer!]!, hosts: groupOf(e), ...extra }];
      return facts
        .map((f) => f.host)
        .filter((h) => names.has(h, names.forHost(e.path, h)))
        .map((h) => ({ path: names.forHost(e.path, h), key: names.forHost(keyOf(ref, e.path), h), ca: caPath[e.issuer!]!, hosts: [h], ...extra }));
    })
    .sort((a, b) => String(a['path']).localeCompare(String(b['path'])));
  // As the stock layouts: the Kubernetes CA key is required where the controller-manager signs; the
  // etcd and front-proxy keys sign nothing during a rotation, checked where present.
  vars['preflight_ca_keys'] = [
    ...(k8s?.path && keyOn(k8s) ? [{ cert: k8s.path, key: keyOn(k8s)!, hosts: '{{ groups.control_plane }}' }] : []),
    ...[etcd, fp].filter((c) => c?.path && keyOn(c)).map((c) => ({ cert: c!.path!, key: keyOn(c)!, optional: true })),
  ];

  // Backups: /etc/kubernetes whole when things live there; other PKI and unit folders; the kubelet's config file alone.
  const touched = new Set<string>();
  for (const e of leaves) touched.add(posix.dirname(e.path));
  for (const c of [k8s, etcd, fp]) if (c?.path) touched.add(posix.dirname(c.path));
  // Units whose flags the stages edit (the kubelet's settings are in its config file and kubeconfig instead).
  for (const c of ref.components) if (c.configFile && c.flagsIn === 'unit' && c.name !== 'kubelet') touched.add(posix.dirname(c.configFile));
  for (const k of ref.kubeconfigs.keys()) touched.add(posix.dirname(k));
  const backup = new Set<string>();
  for (const d of touched) backup.add(d === '/etc/kubernetes' || d.startsWith('/etc/kubernetes/') ? '/etc/kubernetes' : d);
  if (setting('kubelet', 'config') && !setting('kubelet', 'config')!.startsWith('/etc/kubernetes/')) backup.add(setting('kubelet', 'config')!);
  // Config and environment files the trust edits go to (the file itself: /etc/etcd.env's folder is /etc).
  for (const t of TRUST_TARGET) {
    const f = vars[t.fileVar];
    if (typeof f === 'string' && ![...backup].some((d) => f === d || f.startsWith(`${d}/`))) backup.add(f);
  }
  vars['backup_paths'] = [...backup].sort();
  vars['trust_files_to_check'] = [k8s?.path, etcd?.path, fp?.path].filter((p): p is string => !!p);
  // kube-public/cluster-info is kubeadm's: any control plane it made (static pods) has it.
  vars['update_cluster_info'] = flagsIn === 'manifest';

  // The stock stages change trust with set-flag: in a manifest, a unit's ExecStart, an etcd YAML
  // config, an environment file or a KubeletConfiguration. Elsewhere (a unit's Environment= line, a
  // variable of unknown origin, a flag only on the command line) they cannot edit it.
  for (const [component, settings] of Object.entries(trustSettings(ref.components))) {
    for (const [name, s] of Object.entries(settings)) {
      if (SET_FLAG_IN[s.kind] && s.file) continue;
      warnings.push(`${ref.host}: ${component} ${name} lives in ${s.file ?? 'the process environment'} (${s.kind} ${s.key}); the stock stages cannot edit it there: change it in place or with a stage of your own`);
    }
  }
  vars['extra_clients'] = extraClients(map, facts);
  vars['discovered_trust_settings'] = trustSettings(ref.components);

  // Other hosts laid out differently: say so (the stock layouts take one set of paths).
  for (const f of facts) {
    if (f === ref) continue;
    for (const c of f.components) {
      const r = comp(c.name);
      if (r && r.configFile !== c.configFile) warnings.push(`${f.host}: ${c.name}'s flags live in ${c.configFile ?? '(unknown)'}, on ${ref.host} in ${r.configFile ?? '(unknown)'}: the vars follow ${ref.host}`);
    }
  }
  return { vars, warnings };
}

/** kube-apiserver's --secure-port as a number (6443 when unset), or the value that is not a port. */
function apiserverPort(c: ComponentInstance): number | { bad: string } {
  const v = c.settings['secure-port']?.value;
  if (v === undefined) return 6443;
  return /^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535 ? Number(v) : { bad: v };
}

/** The host's name as a token of a path (member-cp1.pem, /cp1/): not inside a longer name (cp10). */
function nameToken(host: string): RegExp {
  return new RegExp(`(?<![A-Za-z0-9])${host.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![A-Za-z0-9])`, 'g');
}

/**
 * Paths named after their host (kubespray's /etc/ssl/etcd/ssl/member-<host>.pem, admin-<host>.pem,
 * node-<host>.pem: roles/etcd/files/make-ssl-etcd.sh names them by inventory_hostname). A path of the
 * reference host that carries its name as a token is per host when another host has the same path
 * with its own name, and none has that very path. `perHost` renders it for the host a stage runs on; `perHostOrFirst` also in a `local`
 * stage (detect, preflight), where it names the first host of `group`.
 */
function hostNamer(ref: HostFacts, map: PkiMap) {
  const pathsOf = new Map<string, Set<string>>();
  for (const e of map.entries) (pathsOf.get(e.host) ?? pathsOf.set(e.host, new Set()).get(e.host)!).add(e.path);
  const has = (host: string, path: string) => pathsOf.get(host)?.has(path) ?? false;
  const others = [...pathsOf.keys()].filter((h) => h !== ref.host);
  // Per host only when another host has its own such file: a lone host's name (or one that is also a
  // folder's, a host called `etcd`) is never taken for a pattern.
  const named = (path: string) =>
    nameToken(ref.host).test(path) && !others.some((h) => has(h, path)) && others.some((h) => has(h, path.replace(nameToken(ref.host), h)));
  return {
    named,
    /** Whether the PKI map has that certificate file on that host. */
    has,
    /** The path with the host's name put in, for `host` (a literal name, or a template). */
    forHost: (path: string, host: string) => path.replace(nameToken(ref.host), host),
    perHost: (path: string) => (named(path) ? path.replace(nameToken(ref.host), '{{ host.name }}') : path),
    /**
     * `path` (a certificate, or its key: `of` is then the certificate, since only certificates are in
     * the map) for the host a stage runs on, the first host of `group` in a `local` stage.
     */
    perHostOrFirst: (path: string, group: string, of = path) =>
      named(of) ? path.replace(nameToken(ref.host), `{% if host.name == 'local' %}{{ groups.${group}[0] }}{% else %}{{ host.name }}{% endif %}`) : path,
  };
}

function keyOf(facts: HostFacts, certPath: string): string {
  for (const c of facts.components) {
    for (const [cert, key] of [['cert-file', 'key-file'], ['peer-cert-file', 'peer-key-file'], ['tls-cert-file', 'tls-private-key-file'], ['etcd-certfile', 'etcd-keyfile'], ['kubelet-client-certificate', 'kubelet-client-key'], ['proxy-client-cert-file', 'proxy-client-key-file']]) {
      if (c.settings[cert!]?.value === certPath && c.settings[key!]) return c.settings[key!]!.value;
    }
  }
  for (const k of facts.kubeconfigs.values()) if (k.clientCertFile === certPath && k.clientKeyFile) return k.clientKeyFile;
  return certPath.replace(/\.(crt|cert)$/, '.key').replace(/(?<!\.key)\.pem$/, '-key.pem');
}

const GENERIC_DIRS = new Set(['etc', 'opt', 'var', 'lib', 'local', 'ssl', 'pki', 'certs', 'tls', 'secrets', 'keys']);
const COMPONENT_DIRS = new Set(['etcd', 'kubernetes', 'kubelet', 'kube']);

/**
 * An extra client's name from its folder: the first folder that names a systemd unit
 * (/etc/prometheus/etcd -> prometheus, restarted through prometheus.service), else the deepest folder
 * that is neither generic (ssl, pki) nor a component's (/etc/etcd/backup -> backup).
 */
export function extraClientName(path: string, unitNames: readonly string[]): string {
  const parts = posix.dirname(path).split('/').filter(Boolean);
  const withUnit = parts.find((p) => !GENERIC_DIRS.has(p) && !COMPONENT_DIRS.has(p) && unitNames.includes(p));
  return withUnit ?? [...parts].reverse().find((p) => !GENERIC_DIRS.has(p) && !COMPONENT_DIRS.has(p)) ?? posix.basename(posix.dirname(path));
}

/**
 * Extra clients: files outside the components' folders that chain to the Kubernetes or etcd CA and
 * that no component reads, grouped by name (extraClientName). The restart method is the systemd unit
 * of that name when one exists.
 */
function extraClients(map: PkiMap, facts: HostFacts[]): Record<string, unknown>[] {
  const groups = new Map<string, { host: string; name: string; entries: MapEntry[] }>();
  for (const e of map.entries) {
    if (e.role !== 'extra-client' || (e.issuer !== 'etcd' && e.issuer !== 'kubernetes')) continue;
    const name = extraClientName(e.path, facts.find((f) => f.host === e.host)?.unitNames ?? []);
    const id = `${e.host}\0${name}`;
    if (!groups.has(id)) groups.set(id, { host: e.host, name, entries: [] });
    groups.get(id)!.entries.push(e);
  }
  return [...groups.values()].map((g) => {
    const pick = (issuer: string, kind: 'ca' | 'leaf') => g.entries.find((e) => e.issuer === issuer && e.kind === kind)?.path ?? '';
    const units = facts.find((f) => f.host === g.host)?.unitNames ?? [];
    return {
      name: g.name,
      host: g.host,
      etcd_ca: pick('etcd', 'ca'),
      etcd_cert: pick('etcd', 'leaf'),
      k8s_ca: pick('kubernetes', 'ca'),
      k8s_cert: pick('kubernetes', 'leaf'),
      // No unit of that name: a command that fails, so a run stops there rather than skip the restart silently.
      restart: units.includes(g.name) ? { method: 'systemd', unit: g.name } : { method: 'command', command: `echo ${shellQuote(`kcarun discover: set the restart of extra client ${g.name}`)} >&2; exit 1` },
    };
  });
}
