import { KcarunError } from '../../core/errors.js';
import { parseKubeconfig, setKubeconfigClusterCA, setKubeconfigUserCredentials, type Embedded } from '../../edit/kubeconfig.js';
import { getManifestFlag, removeManifestFlag, setManifestFlag } from '../../edit/manifest-flag.js';
import { regexReplace, replaceLine } from '../../edit/text-replace.js';
import { getUnitFlag, removeUnitFlag, setUnitFlag } from '../../edit/unit-file.js';
import { unifiedDiff } from '../../edit/unified-diff.js';
import { deletePath, setPath, type EditResult } from '../../edit/yaml-path.js';
import { etcdConfigKey, getEtcdConfigSetting, removeEtcdConfigSetting, setEtcdConfigSetting } from '../../edit/etcd-config.js';
import { envVariableName, getEnvFileSetting, removeEnvFileSetting, setEnvFileSetting } from '../../edit/env-file.js';
import { getKubeletConfigSetting, kubeletConfigField, removeKubeletConfigSetting, setKubeletConfigSetting } from '../../edit/kubelet-config.js';
import type { TaskContext, TaskOutcome, TaskPlan } from '../define.js';
import type { FileStat } from '../../transport/types.js';
import type { FileEdit, FilePatchParams } from './schema.js';
import type { KubeconfigValue } from '../shared/schemas.js';
import { saveBackup } from '../shared/backup.js';
import { statAndRead } from '../../transport/stat-and-read.js';
import { describeSource, readContentSource } from '../shared/content-source.js';
import { redactDiff } from '../shared/redact-diff.js';
import { diffStats } from '../shared/planned-file.js';
import { unknownUntilRun } from '../define.js';

interface Computed {
  /** The file as found: its mode and owner are the ones a write keeps. */
  st: FileStat | null;
  before: string | null;
  after: string;
  changed: boolean;
  diff: string;
  summaries: string[];
}

async function kubeconfigValue(ctx: TaskContext<FilePatchParams>, v: KubeconfigValue): Promise<Embedded> {
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

async function applyEdit(ctx: TaskContext<FilePatchParams>, text: string, edit: FileEdit): Promise<{ text: string; changed: boolean; what: string }> {
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
async function clustersTrusting(ctx: TaskContext<FilePatchParams>, text: string, oldCa: Buffer): Promise<Set<string>> {
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

/** Reads the file, applies every edit in memory, and diffs; writes nothing. Null: absent, and `missing: skip`. */
async function compute(ctx: TaskContext<FilePatchParams>): Promise<Computed | null> {
  const p = ctx.params;
  const { st, content } = await statAndRead(ctx.transport, p.path, p.become);
  let before: string | null = null;
  if (content === null) {
    if (!p.createIfMissing && p.missing === 'skip') return null;
    if (!p.createIfMissing) throw new KcarunError('E_TASK', `${p.path} does not exist (set createIfMissing to start from an empty file)`, { host: ctx.host.name });
  } else {
    before = content.toString('utf8');
  }
  let text = before ?? '';
  const summaries: string[] = [];
  for (const edit of p.edits) {
    if (edit.when === false) continue;
    try {
      const r = await applyEdit(ctx, text, edit);
      if (r.changed) summaries.push(r.what);
      text = r.text;
    } catch (err) {
      if (err instanceof KcarunError && !err.context.host) {
        throw new KcarunError(err.code, `${p.path}: ${err.message}`, { ...err.context, host: ctx.host.name }, { cause: err });
      }
      throw err;
    }
  }
  const changed = text !== (before ?? '') || (before === null && p.createIfMissing === true && text !== '');
  const diff = changed ? redactDiff(unifiedDiff(before ?? '', text, { oldLabel: `${ctx.host.name}:${p.path}`, newLabel: `${ctx.host.name}:${p.path}` })) : '';
  return { st, before, after: text, changed, diff, summaries };
}

const absentSummary = (path: string): string => `${path} does not exist on this host: skipped (missing: skip)`;

export async function runFilePatch(ctx: TaskContext<FilePatchParams>): Promise<TaskOutcome> {
  const p = ctx.params;
  const c = await compute(ctx);
  if (c === null) {
    ctx.log.warn(absentSummary(p.path));
    return { changed: false, summary: absentSummary(p.path), output: { path: p.path, changed: false, absent: true } };
  }
  if (!c.changed) return { changed: false, summary: `${p.path} already as wanted`, output: { path: p.path, changed: false } };
  const undo = await saveBackup(ctx, p.path, c.before === null ? null : Buffer.from(c.before), c.st, p.become);
  await ctx.transport.writeFile(p.path, c.after, { become: p.become, mode: c.st?.mode ?? 0o644 });
  ctx.log.info(`patched ${p.path}: ${c.summaries.join(', ')}`);
  return {
    changed: true,
    undo,
    diff: c.diff,
    summary: `${p.path}: ${c.summaries.join(', ')}`,
    output: { path: p.path, changed: true, backupFile: undo.backupFile ?? null },
    files: [p.path],
  };
}

/** The exact diff (secrets redacted), and the patched file for the steps planned after this one. */
export async function planFilePatch(ctx: TaskContext<FilePatchParams>): Promise<TaskPlan> {
  const p = ctx.params;
  const c = await compute(ctx);
  if (c === null) return { changed: false, summary: absentSummary(p.path), output: { path: p.path, changed: false, absent: true } };
  if (!c.changed) return { changed: false, summary: `${p.path} already as wanted`, output: { path: p.path, changed: false } };
  return {
    changed: true,
    summary: `would patch ${p.path}: ${c.summaries.join(', ')}`,
    diff: c.diff,
    files: [{ path: p.path, kind: c.before === null ? 'create' : 'modify', content: Buffer.from(c.after), mode: c.st?.mode ?? 0o644, ...diffStats(c.diff) }],
    output: { path: p.path, changed: true, backupFile: unknownUntilRun(`backup of ${p.path}`) },
  };
}
