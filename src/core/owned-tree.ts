import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { shellQuote as shellWord } from './shell.js';

/**
 * Whether a directory tree is ours alone: kcarun keeps CA keys and the record of what it did in its
 * state dir, so anyone else who can write there can plant a CA that then signs the cluster, or
 * redirect new keys into their own folder through a symlink. Rule: the directory and everything
 * under it is owned by the running user, is not group- or world-writable, and holds no symlinks.
 * Returns one problem per offending path, each with the command that fixes it.
 */
export interface TreeProblem {
  path: string;
  message: string;
  fix: string;
}

export async function ownedTreeProblems(root: string, options: { uid?: number; maxEntries?: number } = {}): Promise<TreeProblem[]> {
  const uid = options.uid ?? userInfo().uid;
  const problems: TreeProblem[] = [];
  let seen = 0;
  const visit = async (path: string, isRoot: boolean): Promise<void> => {
    if (++seen > (options.maxEntries ?? 100_000)) return;
    // The root may be a symlink to the real directory (its target is checked); nothing below it may.
    const st = isRoot ? await stat(path) : await lstat(path);
    if (st.isSymbolicLink()) {
      problems.push({ path, message: 'is a symlink (the state dir must hold no links: new keys would be written wherever it points)', fix: `rm ${shellWord(path)}` });
      return;
    }
    if (st.uid !== uid) {
      problems.push({ path, message: `is owned by uid ${st.uid}, not by this user (uid ${uid})`, fix: `chown -R ${uid} ${shellWord(path)}` });
    }
    if ((st.mode & 0o022) !== 0) {
      problems.push({ path, message: `is ${st.isDirectory() ? 'a directory' : 'a file'} others can write (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`, fix: `chmod go-w ${shellWord(path)}` });
    }
    if (st.isDirectory()) {
      for (const name of await readdir(path)) await visit(join(path, name), false);
    }
  };
  await visit(root, true);
  return problems;
}

/** The real path of `path`, or of its nearest existing ancestor joined with the rest. */
export async function nearestRealPath(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    const parent = dirname(path);
    if (parent === path) return path;
    return join(await nearestRealPath(parent), path.slice(parent.length + 1));
  }
}
