import { access, constants, cp, lstat, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { KcarunError } from '../core/errors.js';
import { safeFileName } from '../core/names.js';
import { nearestRealPath, ownedTreeProblems } from '../core/owned-tree.js';
import { hostname } from 'node:os';
import type { LockHolder, RunState } from '../core/types.js';
import { readHolder } from './lock.js';
import { writeFileAtomic } from '../transport/local.js';
import { shellQuote } from '../core/shell.js';

/**
 * The environment variable whose value encrypts the CA keys kcarun stores (docs/pki.md). Defined
 * here, where it is read, not beside the PKI helpers: importing those loads node-forge (~40 ms) into
 * every run, PKI or not.
 */
export const CA_PASSPHRASE_ENV = 'KCARUN_CA_PASSPHRASE';

/**
 * The state directory of one inventory (default `.kcarun/` beside it), 0700:
 *   journal.jsonl   every step's outcome (src/engine/journal.ts)
 *   lock            the run lock (src/engine/lock.ts)
 *   artifacts/      what tasks generate: new CAs, bundles, re-issued certificates (keys 0600)
 *   backups/<host>/ copies of every file a task changed, for rollback
 *   report/         the last run's report
 */
export async function openStateDir(dir: string, options: { pid: number; env: Readonly<Record<string, string | undefined>>; readOnly?: boolean }): Promise<RunState> {
  // A dry run (readOnly) leaves a state dir that does not exist yet uncreated: it reads nothing
  // there and plans in a throwaway copy (openScratchStateDir, which starts empty then).
  if (!(options.readOnly && (await lstatOrNull(dir)) === null)) await checkStateDir(dir);
  const passphrase = options.env[CA_PASSPHRASE_ENV];
  return new StateDir(dir, options.pid, passphrase === undefined || passphrase === '' ? undefined : passphrase);
}

/**
 * A dry run's state dir: a throwaway copy (0700, in the system temp dir) of the real one's
 * artifacts (less etcd snapshots and backup archives), in which the plan makes new CAs, bundles and re-issued certificates for real. The lock
 * is still the real dir's. `dispose()` removes the copy (it may hold CA keys).
 */
export async function openScratchStateDir(real: RunState, options: { pid: number }): Promise<RunState & { dispose(): Promise<void> }> {
  const realDir = real.dir;
  const dir = await mkdtemp(join(tmpdir(), 'kcarun-dry-run-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    // Snapshots and backup archives are big and no plan reads them: they stay where they are.
    const skip = new Set(['etcd-snapshots', 'backups'].map((d) => join(realDir, 'artifacts', d)));
    await cp(join(realDir, 'artifacts'), join(dir, 'artifacts'), { recursive: true, errorOnExist: false, force: true, filter: (src) => !skip.has(src) }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    await mkdir(join(dir, 'artifacts'), { recursive: true, mode: 0o700 });
  } catch (err) {
    await dispose();
    throw err;
  }
  const state = new StateDir(dir, options.pid, real.caPassphrase, realDir);
  return Object.assign(state, { dispose });
}

/**
 * Makes the state dir if need be and refuses one that cannot be used or trusted, before any host is
 * touched (E_STATE_DIR, exit 2, with the fix): under /proc, /sys or /dev; a file, or under one; not
 * writable; a journal that is not a file; and anything in it not ours alone (owned by another user,
 * writable by group or others, a symlink; src/core/owned-tree.ts). Issue 13, items 4 and 6.
 */
export async function checkStateDir(dir: string): Promise<void> {
  const refuse = (message: string, cause?: unknown): never => {
    throw new KcarunError('E_STATE_DIR', `state dir ${dir}: ${message}`, {}, cause === undefined ? undefined : { cause });
  };
  const real = await nearestRealPath(dir);
  if (/^\/(proc|sys|dev)(\/|$)/.test(real)) refuse(`is under ${real.split('/')[1] ? `/${real.split('/')[1]}` : real}, a kernel file system; use --state-dir with a normal directory`);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') refuse('is a file, or under a file; remove it or choose another --state-dir', err);
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') refuse(`cannot be created (${code}); choose a --state-dir you can write`, err);
    throw err;
  }
  if (!(await lstatOrNull(dir).then((st) => st && (st.isDirectory() || st.isSymbolicLink())))) refuse('is not a directory; remove it or choose another --state-dir');
  try {
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    refuse(`is not writable by this user; fix: chmod u+rwx ${shellQuote(dir)}`, err);
  }
  await refuseUntrustedStateDir(dir);
  const journal = await lstatOrNull(join(dir, 'journal.jsonl'));
  if (journal && !journal.isFile()) refuse(`${join(dir, 'journal.jsonl')} is not a file; remove it (rm -r) to start over`);
  for (const sub of ['artifacts', 'backups', 'report', 'runs']) {
    const st = await lstatOrNull(join(dir, sub));
    if (st && !st.isDirectory()) refuse(`${join(dir, sub)} is not a directory; remove it`);
  }
  await mkdir(join(dir, 'artifacts'), { recursive: true, mode: 0o700 });
}

/**
 * Refuses (E_STATE_DIR) a state dir that is not ours alone (owned by another user, writable by group
 * or others, a symlink; src/core/owned-tree.ts): what it holds (CA keys, the journal) could have been
 * planted. Also for readers: `kcarun status` must not report a journal someone else wrote.
 */
export async function refuseUntrustedStateDir(dir: string): Promise<void> {
  const problems = await ownedTreeProblems(dir);
  if (problems.length === 0) return;
  const shown = problems.slice(0, 10).map((p) => `  ${p.path} ${p.message}; fix: ${p.fix}`);
  throw new KcarunError(
    'E_STATE_DIR',
    `state dir ${dir}: is not ours alone, so what it holds (CA keys, the journal) cannot be trusted:\n${shown.join('\n')}${problems.length > 10 ? `\n  ... and ${problems.length - 10} more` : ''}\n` +
      `  (kcarun keeps its state dir owned by the user who runs it, 0700, without symlinks; see docs/security.md)`,
  );
}

async function lstatOrNull(path: string) {
  return lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null;
    throw err;
  });
}

class StateDir implements RunState {
  readonly scratch?: { realDir: string };
  /** The dir whose lock counts: the real one, also for a dry run's copy. */
  private readonly lockDir: string;

  constructor(
    readonly dir: string,
    /** This process: a lock it holds is not "another" holder. */
    private readonly pid: number,
    readonly caPassphrase: string | undefined,
    realDir?: string,
  ) {
    if (realDir !== undefined) this.scratch = { realDir };
    this.lockDir = realDir ?? dir;
  }

  artifactPath(relPath: string): string {
    // Artifact names come from playbooks; keep them inside artifacts/.
    const clean = normalize(relPath);
    if (isAbsolute(clean) || clean === '..' || clean.startsWith(`..${sep}`)) {
      throw new KcarunError('E_STATE', `artifact path must stay inside the state dir: ${relPath}`);
    }
    return join(this.dir, 'artifacts', clean);
  }

  async writeArtifact(relPath: string, data: string | Buffer, options: { mode?: number } = {}): Promise<string> {
    const path = this.artifactPath(relPath);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFileAtomic(path, data, options.mode ?? 0o644);
    return path;
  }

  async readArtifact(relPath: string): Promise<Buffer | null> {
    try {
      return await readFile(this.artifactPath(relPath));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async recordedStepOutputs(): Promise<Record<string, unknown>[]> {
    const outputs: Record<string, unknown>[] = [];
    const files = [join(this.dir, 'journal.jsonl'), ...(await readdir(join(this.dir, 'runs')).catch(() => [] as string[])).map((f) => join(this.dir, 'runs', f))];
    for (const file of files) {
      const text = await readFile(file, 'utf8').catch(() => '');
      for (const line of text.split('\n')) {
        if (!line.includes('"t":"step"') || !line.includes('"status":"ok"')) continue;
        try {
          const r = JSON.parse(line) as { output?: Record<string, unknown> };
          if (r.output) outputs.push(r.output);
        } catch {
          // A torn or corrupt line records nothing.
        }
      }
    }
    return outputs;
  }

  async otherLockHolder(): Promise<LockHolder | null> {
    const holder = await readHolder(join(this.lockDir, 'lock'));
    return holder && !(holder.pid === this.pid && holder.host === hostname()) ? holder : null;
  }

  async backupDir(host: string): Promise<string> {
    const dir = join(this.dir, 'backups', safeFileName(host));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }
}
