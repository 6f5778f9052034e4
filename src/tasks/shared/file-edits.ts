import { KcarunError } from '../../core/errors.js';
import { parseKubeconfig, setKubeconfigClusterCA, setKubeconfigUserCredentials, type Embedded } from '../../edit/kubeconfig.js';
import { getManifestFlag, removeManifestFlag, setManifestFlag } from '../../edit/manifest-flag.js';
import { regexReplace, replaceLine } from '../../edit/text-replace.js';
import { getUnitFlag, removeUnitFlag, setUnitFlag } from '../../edit/unit-file.js';
import { deletePath, setPath, type EditResult } from '../../edit/yaml-path.js';
import { etcdConfigKey, getEtcdConfigSetting, removeEtcdConfigSetting, setEtcdConfigSetting } from '../../edit/etcd-config.js';
import { envVariableName, getEnvFileSetting, removeEnvFileSetting, setEnvFileSetting } from '../../edit/env-file.js';
import { getKubeletConfigSetting, kubeletConfigField, removeKubeletConfigSetting, setKubeletConfigSetting } from '../../edit/kubelet-config.js';
import { statAndRead } from '../../transport/stat-and-read.js';
import type { TaskContext } from '../define.js';
import type { FileEdit } from '../file-patch/schema.js';
import type { KubeconfigValue } from './schemas.js';
import { describeSource, readContentSource } from './content-source.js';

/**
 * The edits of file-patch (set-flag in a manifest, a unit, an etcd config file, ...), applied in
 * memory to a file's text: shared by file-patch and by static-pod-hold's release, which writes a
 * held manifest back with its flags changed (one start of the pod instead of two, issue 19).
 */

/** The task context an edit needs: the file's path (kubeconfig edits name it) and `become` for the files an edit reads. */
type Ctx = TaskContext<{ path: string; become?: boolean }>;

async function kubeconfigValue(ctx: Ctx, v: KubeconfigValue): Promise<Embedded> {
  if ('path' in v) return { path: v.path };
  return { data: await readContentSource(ctx, v, ctx.params.become) };
}

type FlagEdit = Extract<FileEdit, { op: 'set-flag' | 'remove-flag' }>;

/** How the report names a setting: as written in that kind of file. */
function settingLabel(edit: FlagEdit): string {
  switch (edit.in) {
    case 'manifest':
    case 'unit':
      return edit.flag.replace(/^-*/, '--');
    case 'etcd-config':
      return etcdConfigKey(edit.flag);
    case 'env-file':
      return envVariableName(edit);
    case 'kubelet-config':
      return kubeletConfigField(edit.flag);
  }
}

function setSetting(text: string, edit: Extract<FileEdit, { op: 'set-flag' }>): EditResult {
  switch (edit.in) {
    case 'manifest':
      return setManifestFlag(text, { flag: edit.flag, value: edit.value, container: edit.container });
    case 'unit':
      return setUnitFlag(text, { flag: edit.flag, value: edit.value });
    case 'etcd-config':
      return setEtcdConfigSetting(text, edit);
    case 'env-file':
      return setEnvFileSetting(text, edit);
    case 'kubelet-config':
      return setKubeletConfigSetting(text, edit);
  }
}

/** Whether the file sets the flag at all (the value as the component reads it, or undefined). */
function settingIsSet(text: string, edit: Extract<FileEdit, { op: 'set-flag' }>): boolean {
  switch (edit.in) {
    case 'manifest':
      return getManifestFlag(text, { flag: edit.flag, container: edit.container }) !== undefined;
    case 'unit':
      return getUnitFlag(text, { flag: edit.flag }) !== undefined;
    case 'etcd-config':
      return getEtcdConfigSetting(text, edit.flag) !== undefined;
    case 'env-file':
      return getEnvFileSetting(text, edit) !== undefined;
    case 'kubelet-config':
      return getKubeletConfigSetting(text, edit.flag) !== undefined;
  }
}

function removeSetting(text: string, edit: Extract<FileEdit, { op: 'remove-flag' }>): EditResult {
  switch (edit.in) {
    case 'manifest':
      return removeManifestFlag(text, { flag: edit.flag, container: edit.container });
    case 'unit':
      return removeUnitFlag(text, { flag: edit.flag });
    case 'etcd-config':
      return removeEtcdConfigSetting(text, edit);
    case 'env-file':
      return removeEnvFileSetting(text, edit);
    case 'kubelet-config':
      return removeKubeletConfigSetting(text, edit);
  }
}

async function applyEdit(ctx: Ctx, text: string, edit: FileEdit): Promise<{ text: string; changed: boolean; what: string }> {
  const file = ctx.params.path;
  switch (edit.op) {
    case 'set-path':
      return { ...setPath(text, edit.path, edit.value), what: `set ${edit.path}` };
    case 'delete-path':
      return { ...deletePath(text, edit.path), what: `delete ${edit.path}` };
    case 'set-flag':
      if (edit.onlyIfSet && !settingIsSet(text, edit)) return { text, changed: false, what: `${settingLabel(edit)} is unset: left unset` };
      return { ...setSetting(text, edit), what: `${settingLabel(edit)}=${edit.value}` };
    case 'remove-flag':
      return { ...removeSetting(text, edit), what: `remove ${settingLabel(edit)}` };
    case 'kubeconfig-ca': {
      const only = edit.oldCa && edit.cluster === undefined ? await clustersTrusting(ctx, text, await readContentSource(ctx, edit.oldCa, ctx.params.become)) : undefined;
      const r = setKubeconfigClusterCA(text, {
        cluster: edit.cluster,
        only: only && ((c) => only.has(c.name)),
        ca: await kubeconfigValue(ctx, edit.ca),
        file,
        warn: (m) => ctx.log.warn(m),
      });
      const which = edit.cluster ?? (only ? `the clusters trusting ${describeSource(edit.oldCa!)} (${[...only].join(', ') || 'none'})` : 'all clusters');
      return { ...r, what: `CA of ${which} from ${describeSource(edit.ca)}` };
    }
    case 'kubeconfig-user': {
      if (!edit.certificate && !edit.key) throw new KcarunError('E_SCHEMA', 'kubeconfig-user needs certificate and/or key', { host: ctx.host.name });
      const r = setKubeconfigUserCredentials(text, {
        user: edit.user,
        certificate: edit.certificate ? await kubeconfigValue(ctx, edit.certificate) : undefined,
        key: edit.key ? await kubeconfigValue(ctx, edit.key) : undefined,
        file,
      });
      return { ...r, what: `credentials of ${edit.user ?? 'all users'}` };
    }
    case 'regex':
      return { ...regexReplace(text, edit), what: `replace /${edit.pattern}/` };
    case 'line':
      return { ...replaceLine(text, edit), what: `line ${JSON.stringify(edit.line)}` };
  }
}

/**
 * The names of the kubeconfig's clusters that trust a CA being rotated: their CA (the embedded
 * data, as client-go reads it first, else the file it names, read on this host) holds one of the
 * certificates of `oldCa`. A file that cannot be read trusts nothing (with a warning).
 */
async function clustersTrusting(ctx: Ctx, text: string, oldCa: Buffer): Promise<Set<string>> {
  // Imported here: the PKI modules (node-forge) cost ~40 ms to load, which every other edit skips.
  const { parseCertificates } = await import('../../pki/certificate.js');
  const old = new Set(parseCertificates(oldCa).map((c) => c.fingerprintSha256));
  if (old.size === 0) throw new KcarunError('E_PKI', `kubeconfig-ca oldCa holds no PEM certificate`, { host: ctx.host.name });
  const trusting = new Set<string>();
  for (const cluster of parseKubeconfig(text, ctx.params.path).clusters) {
    let ca: Buffer | null = null;
    if (cluster.ca && 'data' in cluster.ca) ca = cluster.ca.data;
    else if (cluster.ca) {
      ca = (await statAndRead(ctx.transport, cluster.ca.path, ctx.params.become)).content;
      if (ca === null) ctx.log.warn(`${ctx.params.path}: cluster ${cluster.name} names CA file ${cluster.ca.path}, which does not exist: left as it is`);
    }
    try {
      if (ca && parseCertificates(ca).some((c) => old.has(c.fingerprintSha256))) trusting.add(cluster.name);
    } catch (err) {
      ctx.log.warn(`${ctx.params.path}: cluster ${cluster.name}: its CA is not readable PEM (${(err as Error).message}): left as it is`);
    }
  }
  return trusting;
}

/**
 * Applies `edits` in order to `before` (an edit whose `when` is false is left out). Returns the new
 * text and one summary per edit that changed something (e.g. "--etcd-cafile=/etc/...").
 * Errors: an edit's own (E_SCHEMA, E_PKI, E_TASK), prefixed with the file and given the host.
 */
export async function applyFileEdits(ctx: Ctx, before: string, edits: readonly FileEdit[]): Promise<{ text: string; summaries: string[] }> {
  let text = before;
  const summaries: string[] = [];
  for (const edit of edits) {
    if (edit.when === false) continue;
    try {
      const r = await applyEdit(ctx, text, edit);
      if (r.changed) summaries.push(r.what);
      text = r.text;
    } catch (err) {
      if (err instanceof KcarunError && !err.context.host) {
        throw new KcarunError(err.code, `${ctx.params.path}: ${err.message}`, { ...err.context, host: ctx.host.name }, { cause: err });
      }
      throw err;
    }
  }
  return { text, summaries };
}
