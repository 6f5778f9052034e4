import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { KcarunError } from '../../core/errors.js';
import { type Certificate, parseCertificates } from '../../pki/certificate.js';
import { keyMatchesSpki, loadPrivateKey } from '../../pki/keys.js';
import { shellQuote } from '../../core/shell.js';
import type { CertInstallParams } from './schema.js';
import { unknownUntilRun, type PlannedFile, type TaskContext, type TaskOutcome, type TaskPlan } from '../define.js';
import { plannedFileChange } from '../shared/planned-file.js';
import type { FileStat } from '../../transport/types.js';
import { restoreBackup, saveBackup } from '../shared/backup.js';
import { type PkiFileLocation, pkiFileLocation, requireCertificate, type StoredCertificate } from '../shared/cert-location.js';
import { statAndRead } from '../../transport/stat-and-read.js';

/** What rollback needs: paths only (the journal must hold no key material). */
type Undo =
  | { kind: 'symlink'; link: string; previousTarget: string; created: string; become: boolean; key?: unknown }
  | { kind: 'file'; file: unknown; key?: unknown };

interface Current extends StoredCertificate {
  location: PkiFileLocation;
  /** The link text when `path` is a symlink. */
  linkTarget?: string;
  certificate: Certificate;
  /** Of the file the path names (through the link): owner and mode a rewrite keeps. */
  st: FileStat;
}

async function inspect(ctx: TaskContext<CertInstallParams>, become: boolean): Promise<Current> {
  const { path } = ctx.params;
  const host = ctx.host.name;
  const q = shellQuote(path);
  const res = await ctx.transport.exec(`if [ -L ${q} ]; then echo link; readlink -- ${q}; elif [ -e ${q} ]; then echo file; else echo absent; fi`, { become, signal: ctx.signal });
  if (res.rc !== 0) throw new KcarunError('E_TASK', `${host}: cannot inspect ${path}: ${res.stderr.trim()}`, { host, path });
  const [kind, linkTarget] = res.stdout.replace(/\n$/, '').split('\n');
  if (kind === 'absent') throw new KcarunError('E_TASK', `${host}: ${path} does not exist`, { host, path });
  const location = pkiFileLocation(ctx.transport, become, { cert: path, key: ctx.params.keyPath });
  const found = await location.read();
  if (!found || !found.st) throw new KcarunError('E_TASK', `${host}: ${path} points to a file that does not exist (${linkTarget})`, { host, path });
  const certificate = requireCertificate(host, location, found);
  return { ...found, location, linkTarget: kind === 'link' ? linkTarget : undefined, certificate, st: found.st };
}

async function readArtifact(ctx: TaskContext<CertInstallParams>, name: string): Promise<Buffer> {
  const data = await ctx.state.readArtifact(name);
  if (!data) throw new KcarunError('E_STATE', `artifact ${name} does not exist (made by cert-reissue)`, { host: ctx.host.name });
  return data;
}

/** The new file's content: the certificate, then the key (the order the kubelet writes). */
async function newContent(ctx: TaskContext<CertInstallParams>, cert: Certificate, current: Current): Promise<{ data: string; newKey?: string }> {
  const host = ctx.host.name;
  const { path } = ctx.params;
  const newKey = ctx.params.keyArtifact ? (await readArtifact(ctx, ctx.params.keyArtifact)).toString('utf8') : undefined;
  const key = newKey ?? current.keyBlock;
  if (key !== undefined) {
    // The message names files only: the key itself never goes into an error.
    if (!keyMatchesSpki(loadPrivateKey(key, newKey ? ctx.params.keyArtifact! : `the key in ${path}`), cert.spkiDer)) {
      throw new KcarunError('E_PKI', `${host}: ${ctx.params.artifact} does not match the key ${newKey ? ctx.params.keyArtifact : `in ${path}`}; re-run cert-reissue`, { host, path });
    }
  }
  const data = current.location.render(current, cert, newKey);
  return current.keyBlock === undefined ? { data, newKey } : { data };
}

/** Replaces a symlink atomically: a new link under a temp name, renamed over the old one. */
async function pointLink(ctx: TaskContext<CertInstallParams>, link: string, target: string, become: boolean): Promise<void> {
  const tmp = posix.join(posix.dirname(link), `.${posix.basename(link)}.kcarun-${randomBytes(6).toString('hex')}.tmp`);
  const res = await ctx.transport.exec(`ln -s -- ${shellQuote(target)} ${shellQuote(tmp)} && mv -Tf -- ${shellQuote(tmp)} ${shellQuote(link)}`, { become, signal: ctx.signal });
  if (res.rc !== 0) {
    await ctx.transport.exec(`rm -f -- ${shellQuote(tmp)}`, { become });
    throw new KcarunError('E_TASK', `${ctx.host.name}: cannot point ${link} at ${target}: ${res.stderr.trim()}`, { host: ctx.host.name, path: link });
  }
}

export async function runCertInstall(ctx: TaskContext<CertInstallParams>): Promise<TaskOutcome> {
  const p = ctx.params;
  const host = ctx.host.name;
  const become = p.become ?? ctx.host.become;
  const cert = parseCertificates(await readArtifact(ctx, p.artifact))[0];
  if (!cert) throw new KcarunError('E_PKI', `artifact ${p.artifact} holds no PEM certificate`, { host });
  const current = await inspect(ctx, become);
  const output = { path: p.path, subject: cert.subjectText, notAfter: cert.notAfter.toISOString(), combined: current.keyBlock !== undefined };
  if (current.certificate.der.equals(cert.der)) {
    return { changed: false, summary: `${p.path} already holds this certificate`, output: { ...output, file: p.path, how: 'unchanged' } };
  }
  const { data, newKey } = await newContent(ctx, cert, current);
  // What is changed so far, so a failure half-way (a cut connection, a failed read-back) is undone
  // here: a step that throws hands the runner no undo of its own.
  let keyUndo: unknown;
  let undo: Undo | undefined;
  try {
    // A rotated key for a certificate-only file goes to its own key file first (then the certificate).
    if (newKey !== undefined) {
      if (!p.keyPath) throw new KcarunError('E_SCHEMA', `${host}: ${p.path} holds no key: keyArtifact needs keyPath (where the key lives)`, { host, path: p.path });
      const old = await statAndRead(ctx.transport, p.keyPath, become);
      keyUndo = await saveBackup(ctx, p.keyPath, old.content, old.st, become);
      await ctx.transport.writeFile(p.keyPath, newKey, { mode: 0o600, become });
    }

    if (current.linkTarget !== undefined) {
      // Like the kubelet's own renewal: a new timestamped pair beside the old one, then the link.
      const linkDir = posix.dirname(p.path);
      const targetDir = posix.dirname(posix.isAbsolute(current.linkTarget) ? current.linkTarget : posix.join(linkDir, current.linkTarget));
      let name = timestampedPairName(posix.basename(p.path), new Date());
      for (let i = 1; await ctx.transport.stat(posix.join(targetDir, name), { become }); i++) name = timestampedPairName(posix.basename(p.path), new Date(Date.now() + i * 1000));
      const created = posix.join(targetDir, name);
      // The link keeps its style: absolute stays absolute (the kubelet's), relative stays relative.
      const linkText = current.linkTarget.includes('/') ? posix.join(posix.dirname(current.linkTarget), name) : name;
      undo = { kind: 'symlink', link: p.path, previousTarget: current.linkTarget, created, become, ...(keyUndo ? { key: keyUndo } : {}) };
      await ctx.transport.writeFile(created, data, { mode: 0o600, owner: String(current.st.uid), group: String(current.st.gid), become });
      await pointLink(ctx, p.path, linkText, become);
      await verifyInstalled(ctx, cert, become);
      return { changed: true, undo, summary: `${p.path} -> ${linkText} (new certificate, same key; ${current.linkTarget} kept)`, output: { ...output, file: created, how: 'symlink' }, files: [p.path, ...(newKey !== undefined && p.keyPath ? [p.keyPath] : [])] };
    }

    // A plain file: rewritten in place (temp + fsync + rename), with a backup for the rollback.
    undo = { kind: 'file', file: await saveBackup(ctx, p.path, current.content, current.st, become), ...(keyUndo ? { key: keyUndo } : {}) };
    const mode = current.keyBlock !== undefined ? 0o600 : current.st.mode;
    await ctx.transport.writeFile(p.path, data, { mode, owner: String(current.st.uid), group: String(current.st.gid), become });
    await verifyInstalled(ctx, cert, become);
    return { changed: true, undo, summary: `${p.path} rewritten with the new certificate${current.keyBlock !== undefined ? ' (same file, key kept)' : ''}`, output: { ...output, file: p.path, how: 'in-place' }, files: [p.path, ...(newKey !== undefined && p.keyPath ? [p.keyPath] : [])] };
  } catch (err) {
    try {
      if (undo) await rollbackCertInstall(ctx, undo);
      else if (keyUndo !== undefined) await restoreBackup(ctx, keyUndo);
    } catch (undoErr) {
      ctx.log.warn(`${host}: could not undo the partial install of ${p.path}: ${(undoErr as Error).message}`);
    }
    throw err;
  }
}

/** Reads the file back through the path the kubeconfig names: the summary claims the host has it. */
async function verifyInstalled(ctx: TaskContext<CertInstallParams>, cert: Certificate, become: boolean): Promise<void> {
  const after = parseCertificates(await ctx.transport.readFile(ctx.params.path, { become }))[0];
  if (!after || !after.der.equals(cert.der)) throw new KcarunError('E_TASK', `${ctx.host.name}: ${ctx.params.path} does not hold the new certificate after the install`, { host: ctx.host.name, path: ctx.params.path });
}

function isUndo(u: unknown): u is Undo {
  return typeof u === 'object' && u !== null && ((u as Undo).kind === 'symlink' || (u as Undo).kind === 'file');
}

/** Points the link back (the old timestamped file was never touched) or restores the backup. Safe to repeat. */
export async function rollbackCertInstall(ctx: TaskContext<CertInstallParams>, undo: unknown): Promise<void> {
  if (!isUndo(undo)) throw new KcarunError('E_ROLLBACK', 'cert-install undo data is malformed', { host: ctx.host.name });
  if (undo.kind === 'file') {
    if (undo.key !== undefined) await restoreBackup(ctx, undo.key);
    await restoreBackup(ctx, undo.file);
    return;
  }
  if (undo.key !== undefined) await restoreBackup(ctx, undo.key);
  const res = await ctx.transport.exec(`readlink -- ${shellQuote(undo.link)}`, { become: undo.become });
  if (res.rc !== 0 || res.stdout.replace(/\n$/, '') !== undo.previousTarget) await pointLink(ctx, undo.link, undo.previousTarget, undo.become);
  // The file this step made is no longer named by anything: remove it so a re-run starts clean.
  const rm = await ctx.transport.exec(`rm -f -- ${shellQuote(undo.created)}`, { become: undo.become });
  if (rm.rc !== 0) ctx.log.warn(`could not remove ${undo.created}: ${rm.stderr.trim()}`);
  ctx.log.info(`${undo.link} -> ${undo.previousTarget} again`);
}

/**
 * What the install would put behind `path` (the certificate, then the key the file holds now), as
 * the run computes it: the key is checked against the new certificate here too. The content goes to
 * the dry run's overlay only; its diff names certificates, never the key.
 */
export async function planCertInstall(ctx: TaskContext<CertInstallParams>): Promise<TaskPlan> {
  const p = ctx.params;
  const become = p.become ?? ctx.host.become;
  const data = await ctx.state.readArtifact(p.artifact);
  const cert = data ? parseCertificates(data)[0] : undefined;
  const current = await inspect(ctx, become);
  const base = { path: p.path, combined: current.keyBlock !== undefined };
  if (cert && current.certificate.der.equals(cert.der)) {
    return { changed: false, summary: `${p.path} already holds this certificate`, output: { ...base, subject: cert.subjectText, notAfter: cert.notAfter.toISOString(), file: p.path, how: 'unchanged' } };
  }
  const how = current.linkTarget !== undefined ? `a new timestamped file beside ${current.linkTarget}, then swap the link` : 'rewrite in place';
  const summary = `would install ${p.artifact} into ${p.path} (${how}${current.keyBlock ? ', key kept' : ''})`;
  if (!cert) return { changed: true, summary };
  const { data: content, newKey } = await newContent(ctx, cert, current);
  const { file, diff } = await plannedFileChange(ctx.transport.host, p.path, current.content, Buffer.from(content), current.keyBlock !== undefined ? 0o600 : current.st.mode, current.st.mode);
  const files: PlannedFile[] = [file];
  if (newKey !== undefined && p.keyPath) files.push({ path: p.keyPath, kind: 'modify', content: Buffer.from(newKey), mode: 0o600, added: 1, removed: 1 });
  return {
    changed: true,
    summary,
    diff,
    files,
    output: { ...base, subject: cert.subjectText, notAfter: cert.notAfter.toISOString(), file: current.linkTarget !== undefined ? unknownUntilRun(`the timestamped file beside ${current.linkTarget}`) : p.path, how: current.linkTarget !== undefined ? 'symlink' : 'in-place' },
  };
}

/** kubelet-client-current.pem -> kubelet-client-2026-11-28-20-51-07.pem: the name the kubelet itself gives a renewed pair. */
export function timestampedPairName(linkName: string, now: Date): string {
  const ts = now.toISOString().slice(0, 19).replace(/[T:]/g, '-');
  const m = /^(.*)-current\.pem$/.exec(linkName);
  const prefix = m ? m[1]! : linkName.replace(/\.pem$/, '');
  return `${prefix}-${ts}.pem`;
}
