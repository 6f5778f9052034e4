import { isMap, isScalar, isSeq, Scalar, type YAMLMap } from 'yaml';
import { KcarunError } from '../core/errors.js';
import { YamlEditor, type EditResult } from './yaml-path.js';

/**
 * kubeconfig edits (admin.conf, kubelet.conf, scheduler.conf, controller-manager.conf, users'
 * configs): a cluster's CA and a user's client certificate/key, embedded (`*-data`, base64 of the
 * file content) or as a path. Setting one form replaces the other in place, so kubectl never sees
 * both and the key keeps its position.
 */
export type Embedded = { data: string | Buffer } | { path: string };

function entries(editor: YamlEditor, list: 'clusters' | 'users', name: string | undefined, file: string): YAMLMap[] {
  const seq = editor.doc.get(list, true);
  if (!isSeq(seq)) throw new KcarunError('E_TASK', `${file}: not a kubeconfig (no ${list} list)`);
  const inner = list === 'clusters' ? 'cluster' : 'user';
  const found = seq.items.filter((item): item is YAMLMap => isMap(item) && (name === undefined || String(item.get('name')) === name));
  if (found.length === 0) throw new KcarunError('E_TASK', `${file}: no ${inner} named ${name}`);
  return found.map((item) => {
    const body = item.get(inner, true);
    if (!isMap(body)) throw new KcarunError('E_TASK', `${file}: ${inner} ${String(item.get('name'))} has no ${inner} map`);
    return body;
  });
}

function setOne(editor: YamlEditor, map: YAMLMap, key: string, value: Embedded): void {
  const dataKey = `${key}-data`;
  const [wanted, other, text] = 'data' in value ? [dataKey, key, Buffer.from(value.data).toString('base64')] : [key, dataKey, value.path];
  const find = (k: string) => map.items.find((p) => isScalar(p.key) && p.key.value === k);
  const current = find(wanted);
  const stale = find(other);
  if (current && isScalar(current.value)) editor.setScalar(current.value, text);
  else if (current) editor.structuralChange(() => (current.value = new Scalar(text)));
  if (stale) {
    if (!current && isScalar(stale.key) && isScalar(stale.value)) {
      // Same position, other form: rename the key and replace the value.
      editor.setScalar(stale.key, wanted);
      editor.setScalar(stale.value, text);
    } else {
      editor.structuralChange(() => map.delete(other));
      if (!current) editor.structuralChange(() => map.set(wanted, text));
    }
  } else if (!current) {
    editor.structuralChange(() => map.set(wanted, text));
  }
}

/** Sets `certificate-authority(-data)` of the named cluster, or of every cluster when no name is given. */
export function setKubeconfigClusterCA(text: string, options: { cluster?: string; ca: Embedded; file?: string }): EditResult {
  const file = options.file ?? 'kubeconfig';
  const editor = new YamlEditor(text, file);
  for (const cluster of entries(editor, 'clusters', options.cluster, file)) setOne(editor, cluster, 'certificate-authority', options.ca);
  return editor.result();
}

/** Sets a user's `client-certificate(-data)` and/or `client-key(-data)`, of the named user or all. */
export function setKubeconfigUserCredentials(
  text: string,
  options: { user?: string; certificate?: Embedded; key?: Embedded; file?: string },
): EditResult {
  const file = options.file ?? 'kubeconfig';
  const editor = new YamlEditor(text, file);
  for (const user of entries(editor, 'users', options.user, file)) {
    if (options.certificate) setOne(editor, user, 'client-certificate', options.certificate);
    if (options.key) setOne(editor, user, 'client-key', options.key);
  }
  return editor.result();
}
