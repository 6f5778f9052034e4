import { isMap, isScalar, isSeq, Scalar, type YAMLSeq } from 'yaml';
import { KcarunError } from '../core/errors.js';
import { parseYamlDocument, YamlEditor, type EditResult } from './yaml-path.js';

/**
 * Command-line flags inside a static pod manifest (kubeadm's /etc/kubernetes/manifests/*.yaml):
 * the container's `command` list (or `args`), items as `--flag=value` or `--flag` `value`.
 */
export interface ManifestFlagTarget {
  /** Container name; default: the first container. */
  container?: string;
  /** With or without the leading `--`, e.g. `trusted-ca-file`. */
  flag: string;
}

export function normalizeFlag(flag: string): string {
  return flag.startsWith('-') ? flag : `--${flag}`;
}

interface FlagLocation {
  list: YAMLSeq;
  /** Index of the `--flag` or `--flag=value` item. */
  index: number;
  /** The value's item index when written as two items, else undefined. */
  valueIndex?: number;
  value: string | undefined;
}

function containerCommand(doc: ReturnType<typeof parseYamlDocument>, container: string | undefined): YAMLSeq {
  const containers = doc.getIn(['spec', 'containers'], true);
  if (!isSeq(containers) || containers.items.length === 0) throw new KcarunError('E_TASK', 'not a pod manifest: spec.containers is missing');
  const c = container === undefined ? containers.items[0] : containers.items.find((item) => isMap(item) && item.get('name') === container);
  if (!isMap(c)) throw new KcarunError('E_TASK', `no container named ${container} in the manifest`);
  const command = c.get('command', true);
  const args = c.get('args', true);
  // kubeadm puts everything in `command`; some manifests keep flags in `args`.
  if (isSeq(command) && (!isSeq(args) || command.items.some((i) => isScalar(i) && String(i.value).startsWith('--')))) return command;
  if (isSeq(args)) return args;
  throw new KcarunError('E_TASK', `container ${String(c.get('name'))} has no command or args list`);
}

function locate(list: YAMLSeq, flag: string): FlagLocation | undefined {
  for (let index = 0; index < list.items.length; index++) {
    const item = list.items[index];
    if (!isScalar(item)) continue;
    const s = String(item.value);
    if (s.startsWith(`${flag}=`)) return { list, index, value: s.slice(flag.length + 1) };
    if (s === flag) {
      const next = list.items[index + 1];
      if (isScalar(next) && !String(next.value).startsWith('-')) return { list, index, valueIndex: index + 1, value: String(next.value) };
      return { list, index, value: undefined };
    }
  }
  return undefined;
}

export function getManifestFlag(text: string, target: ManifestFlagTarget): string | undefined {
  const doc = parseYamlDocument(text, 'manifest');
  return locate(containerCommand(doc, target.container), normalizeFlag(target.flag))?.value;
}

/** Sets `--flag=value` (keeping the two-item form when the manifest uses it); appends when missing. */
export function setManifestFlag(text: string, target: ManifestFlagTarget & { value: string }): EditResult {
  const flag = normalizeFlag(target.flag);
  const editor = new YamlEditor(text, 'manifest');
  const list = containerCommand(editor.doc, target.container);
  const at = locate(list, flag);
  if (at?.value === target.value) return { text, changed: false };
  if (!at) editor.structuralChange(() => list.items.push(new Scalar(`${flag}=${target.value}`)));
  else if (at.valueIndex !== undefined) editor.setScalar(list.items[at.valueIndex] as Scalar, target.value);
  else editor.setScalar(list.items[at.index] as Scalar, `${flag}=${target.value}`);
  return editor.result();
}

export function removeManifestFlag(text: string, target: ManifestFlagTarget): EditResult {
  const flag = normalizeFlag(target.flag);
  const editor = new YamlEditor(text, 'manifest');
  const list = containerCommand(editor.doc, target.container);
  const at = locate(list, flag);
  if (!at) return { text, changed: false };
  editor.structuralChange(() => list.items.splice(at.index, at.valueIndex !== undefined ? 2 : 1));
  return editor.result();
}
