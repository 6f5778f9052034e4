import { posix } from 'node:path';
import { isMap, isScalar, isSeq, type YAMLMap } from 'yaml';
import { KcarunError } from '../core/errors.js';
import { parseYamlDocument, YamlEditor, type EditResult } from './yaml-path.js';

/**
 * The kubeconfig, one model for every reader and editor in kcarun: the API client's credentials,
 * cert-reissue's and cert-check's client certificate, the CA and credential edits of file-patch and
 * kube-configmap-patch. Files (admin.conf, kubelet.conf, scheduler.conf, controller-manager.conf,
 * users' configs, cluster-info's `kubeconfig`) hold a cluster's CA and a user's client
 * certificate/key either embedded (`*-data`, base64 of the file content) or as a path, relative
 * paths meaning the kubeconfig's folder (as kubectl resolves them).
 */

/** Bytes a kubeconfig holds: embedded (`*-data`, decoded), or a file it names (resolved). */
export type KubeconfigBytes = { data: Buffer } | { path: string };

export interface KubeconfigCluster {
  name: string;
  server?: string;
  /** The CA it trusts. With both forms set, the data: client-go reads `certificate-authority-data` first. */
  ca?: KubeconfigBytes;
  /** Both `certificate-authority` and `certificate-authority-data` are set (the file is ignored by client-go). */
  caInBothForms: boolean;
  insecure: boolean;
}

export interface KubeconfigUser {
  name: string;
  /** Client certificate; the data wins over the file, as in client-go. */
  certificate?: KubeconfigBytes;
  key?: KubeconfigBytes;
  token?: string;
}

export interface KubeconfigContext {
  name: string;
  cluster: string;
  user: string;
}

export interface Kubeconfig {
  clusters: KubeconfigCluster[];
  users: KubeconfigUser[];
  contexts: KubeconfigContext[];
  currentContext?: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** `key-data` (embedded) or `key` (a path, resolved against `dir`); the data wins. */
function bytesOf(body: Obj, key: string, dir: string): KubeconfigBytes | undefined {
  const data = str(body[`${key}-data`]);
  if (data !== undefined) return { data: Buffer.from(data, 'base64') };
  const path = str(body[key]);
  if (path !== undefined) return { path: posix.isAbsolute(path) ? path : posix.join(dir, path) };
  return undefined;
}

function clusterOf(item: unknown, dir: string): KubeconfigCluster | undefined {
  if (!isObj(item)) return undefined;
  const body = isObj(item['cluster']) ? item['cluster'] : {};
  return {
    name: String(item['name'] ?? ''),
    server: str(body['server']),
    ca: bytesOf(body, 'certificate-authority', dir),
    caInBothForms: typeof body['certificate-authority'] === 'string' && typeof body['certificate-authority-data'] === 'string',
    insecure: body['insecure-skip-tls-verify'] === true,
  };
}

function userOf(item: unknown, dir: string): KubeconfigUser | undefined {
  if (!isObj(item)) return undefined;
  const body = isObj(item['user']) ? item['user'] : {};
  return {
    name: String(item['name'] ?? ''),
    certificate: bytesOf(body, 'client-certificate', dir),
    key: bytesOf(body, 'client-key', dir),
    token: str(body['token']),
  };
}

const listOf = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/**
 * Parses a kubeconfig. `path` is the file's path on its host: relative file references resolve
 * against its folder. Throws E_TASK naming the file when it is not YAML.
 */
export function parseKubeconfig(text: string, path: string): Kubeconfig {
  const root: unknown = parseYamlDocument(text, path).toJS();
  const doc = isObj(root) ? root : {};
  const dir = posix.dirname(path);
  return {
    clusters: listOf(doc['clusters']).flatMap((c) => clusterOf(c, dir) ?? []),
    users: listOf(doc['users']).flatMap((u) => userOf(u, dir) ?? []),
    contexts: listOf(doc['contexts']).flatMap((c) =>
      isObj(c) && isObj(c['context']) ? [{ name: String(c['name'] ?? ''), cluster: String(c['context']['cluster'] ?? ''), user: String(c['context']['user'] ?? '') }] : [],
    ),
    currentContext: str(doc['current-context']),
  };
}

/**
 * The cluster and user kubectl would use: those of `current-context` (else the first context);
 * without contexts, the first cluster and user.
 */
export function currentClusterAndUser(kc: Kubeconfig): { context?: string; cluster?: KubeconfigCluster; user?: KubeconfigUser } {
  const contextName = kc.currentContext ?? kc.contexts[0]?.name;
  const context = kc.contexts.find((c) => c.name === contextName);
  if (!context) return { context: contextName, cluster: kc.clusters[0], user: kc.users[0] };
  return { context: contextName, cluster: kc.clusters.find((c) => c.name === context.cluster), user: kc.users.find((u) => u.name === context.user) };
}

/**
 * Where a kubeconfig keeps its user's client certificate: embedded (`client-certificate-data`, as
 * older kubeadm writes kubelet.conf and every control-plane kubeconfig) or referenced by path
 * (`client-certificate` / `client-key`, as kubeadm >= 1.17 writes kubelet.conf, pointing both at
 * /var/lib/kubelet/pki/kubelet-client-current.pem).
 */
export type KubeconfigClientCert =
  | { kind: 'embedded'; user: string; certPem: Buffer }
  | { kind: 'file'; user: string; certPath: string; keyPath: string | undefined };

/**
 * The client certificate of a kubeconfig's only user with one, or null when no user has one (token
 * or exec credentials). Several users with certificates are refused: which one to handle would be
 * a guess. Errors are E_PKI naming the file (and host).
 */
export function kubeconfigClientCert(text: string, kubeconfigPath: string, host?: string): KubeconfigClientCert | null {
  let kc: Kubeconfig;
  try {
    kc = parseKubeconfig(text, kubeconfigPath);
  } catch (err) {
    throw new KcarunError('E_PKI', `${kubeconfigPath} is not a valid kubeconfig: ${(err as Error).message}`, { host, path: kubeconfigPath }, { cause: err });
  }
  const withCert = kc.users.filter((u) => u.certificate !== undefined);
  if (withCert.length === 0) return null;
  if (withCert.length > 1) {
    throw new KcarunError('E_PKI', `${kubeconfigPath} has ${withCert.length} users with client certificates; list their files under paths instead`, { host, path: kubeconfigPath });
  }
  const { name: user, certificate, key } = withCert[0]!;
  if ('data' in certificate!) return { kind: 'embedded', user, certPem: certificate.data };
  return { kind: 'file', user, certPath: certificate!.path, keyPath: key && 'path' in key ? key.path : undefined };
}

// ---- edits: only the bytes of the entries that change; every other byte stays as written ----------

/** What an edit sets: embedded bytes (`*-data`) or a file path. */
export type Embedded = { data: string | Buffer } | { path: string };

function entries(editor: YamlEditor, list: 'clusters' | 'users', name: string | undefined, file: string): Array<{ item: YAMLMap; body: YAMLMap }> {
  const seq = editor.doc.get(list, true);
  if (!isSeq(seq)) throw new KcarunError('E_TASK', `${file}: not a kubeconfig (no ${list} list)`);
  const inner = list === 'clusters' ? 'cluster' : 'user';
  const found = seq.items.filter((item): item is YAMLMap => isMap(item) && (name === undefined || String(item.get('name')) === name));
  if (found.length === 0) throw new KcarunError('E_TASK', `${file}: no ${inner} named ${name}`);
  return found.map((item) => {
    const body = item.get(inner, true);
    if (!isMap(body)) throw new KcarunError('E_TASK', `${file}: ${inner} ${String(item.get('name'))} has no ${inner} map`);
    return { item, body };
  });
}

/**
 * Sets `key` (a path) or `key-data` (embedded) and removes the other form, in place: a path that
 * becomes data keeps its position (the key is renamed), so kubectl never sees both.
 */
function setOne(editor: YamlEditor, map: YAMLMap, key: string, value: Embedded): void {
  const dataKey = `${key}-data`;
  const [wanted, other, text] = 'data' in value ? [dataKey, key, Buffer.from(value.data).toString('base64')] : [key, dataKey, value.path];
  const find = (k: string) => map.items.find((p) => isScalar(p.key) && p.key.value === k);
  const current = find(wanted);
  const stale = find(other);
  if (current && isScalar(current.value)) editor.setScalar(current.value, text);
  else if (current) editor.setPairValue(map, wanted, text);
  if (stale) {
    if (!current && isScalar(stale.key) && isScalar(stale.value)) {
      // Same position, other form: rename the key and replace the value.
      editor.setScalar(stale.key, wanted);
      editor.setScalar(stale.value, text);
    } else {
      editor.deletePair(map, other);
      if (!current) editor.addPair(map, wanted, text);
    }
  } else if (!current) {
    editor.addPair(map, wanted, text);
  }
}

export interface ClusterCaEdit {
  /** Only the cluster of this name (an error when there is none). */
  cluster?: string;
  /**
   * Only clusters for which this returns true (e.g. those whose CA holds the CA being rotated);
   * called with each cluster as parseKubeconfig sees it. Without `cluster` and `only`: every cluster.
   */
  only?: (cluster: KubeconfigCluster) => boolean;
  ca: Embedded;
  /** The file, for messages and for resolving relative paths given to `only`. */
  file?: string;
  /** Told about entries made consistent (both CA forms set). */
  warn?: (message: string) => void;
}

/**
 * Sets `certificate-authority(-data)` of the chosen clusters. Only their CA lines change: other
 * clusters, users, comments and spacing stay byte for byte. A chosen cluster holding both forms
 * ends with the one asked for (client-go would have used the data), and `warn` says so.
 */
export function setKubeconfigClusterCA(text: string, options: ClusterCaEdit): EditResult {
  const file = options.file ?? 'kubeconfig';
  const editor = new YamlEditor(text, file);
  const dir = posix.dirname(file);
  for (const { item, body } of entries(editor, 'clusters', options.cluster, file)) {
    const model = clusterOf(item.toJSON(), dir);
    if (options.only && model && !options.only(model)) continue;
    if (model?.caInBothForms) {
      options.warn?.(
        `${file}: cluster ${model.name} had both certificate-authority and certificate-authority-data (client-go uses the data); it now has only ${'data' in options.ca ? 'certificate-authority-data' : 'certificate-authority'}`,
      );
    }
    setOne(editor, body, 'certificate-authority', options.ca);
  }
  return editor.result();
}

/**
 * Sets a user's `client-certificate(-data)` and/or `client-key(-data)`: of the named user; without
 * a name, of the users that have a client certificate already (a merged kubeconfig's token or exec
 * users are left alone), or of every user when none has one. Other bytes stay as written.
 */
export function setKubeconfigUserCredentials(
  text: string,
  options: { user?: string; certificate?: Embedded; key?: Embedded; file?: string },
): EditResult {
  const file = options.file ?? 'kubeconfig';
  const editor = new YamlEditor(text, file);
  let users = entries(editor, 'users', options.user, file);
  if (options.user === undefined) {
    const withCertificate = users.filter(({ item }) => userOf(item.toJSON(), posix.dirname(file))?.certificate !== undefined);
    if (withCertificate.length > 0) users = withCertificate;
  }
  for (const { body } of users) {
    if (options.certificate) setOne(editor, body, 'client-certificate', options.certificate);
    if (options.key) setOne(editor, body, 'client-key', options.key);
  }
  return editor.result();
}
