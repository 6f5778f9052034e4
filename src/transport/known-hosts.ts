import { createHash, createHmac } from 'node:crypto';
import { appendFile, mkdir, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { hasWildcard, wildcardMatcher } from '../core/glob.js';

/**
 * OpenSSH known_hosts checking, as `ssh` does it with StrictHostKeyChecking=yes / accept-new:
 * plain and hashed (`|1|salt|hmac`) host patterns, `[host]:port` for non-22 ports, wildcards and
 * negation, `@revoked` markers. `@cert-authority` lines are ignored (no certificate support).
 */
export interface KnownHostEntry {
  marker?: '@revoked' | '@cert-authority';
  patterns: string;
  keyType: string;
  /** The public key blob. */
  key: Buffer;
}

export type HostKeyVerdict =
  | { status: 'known' }
  | { status: 'unknown' }
  /** A key of the same type is recorded and differs, or only other key types are recorded. */
  | { status: 'changed'; knownTypes: string[] }
  | { status: 'revoked' };

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') marker = fields.shift() as KnownHostEntry['marker'];
    const [patterns, keyType, keyB64] = fields;
    if (!patterns || !keyType || !keyB64) continue;
    entries.push({ marker, patterns, keyType, key: Buffer.from(keyB64, 'base64') });
  }
  return entries;
}

/** How OpenSSH names a host in known_hosts: `host`, or `[host]:port` when the port is not 22. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/**
 * Host-pattern fields compiled once into a test. Every connection checks its host against every
 * known_hosts line (hosts x lines tests per run), so a field is split, lower-cased and, for
 * wildcards, turned into a regular expression only the first time it is seen.
 */
type HostTest = (name: string) => boolean;
const compiledFields = new Map<string, HostTest>();

function compileGlob(glob: string): HostTest {
  const lower = glob.toLowerCase();
  if (!hasWildcard(lower, { brackets: 'literal' })) return (name) => name === lower;
  return wildcardMatcher(lower, { brackets: 'literal' });
}

function compileField(patterns: string): HostTest {
  if (patterns.startsWith('|1|')) {
    const [, , salt, hash] = patterns.split('|');
    if (!salt || !hash) return () => false;
    const key = Buffer.from(salt, 'base64');
    return (name) => createHmac('sha1', key).update(name).digest('base64') === hash;
  }
  const parts = patterns.split(',').map((p) => (p.startsWith('!') ? { negated: true, test: compileGlob(p.slice(1)) } : { negated: false, test: compileGlob(p) }));
  return (name) => {
    const lower = name.toLowerCase();
    let matched = false;
    for (const part of parts) {
      if (!part.test(lower)) continue;
      if (part.negated) return false;
      matched = true;
    }
    return matched;
  };
}

/** Whether a host-pattern field (comma list with `*`/`?` wildcards and `!` negation, or hashed) names `name`. */
export function patternsMatch(patterns: string, name: string): boolean {
  let test = compiledFields.get(patterns);
  if (!test) {
    test = compileField(patterns);
    compiledFields.set(patterns, test);
  }
  return test(name);
}

/** The key type named inside an SSH public key blob (`ssh-ed25519`, `ecdsa-sha2-nistp256`, ...). */
export function keyTypeOfBlob(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** `SHA256:...` as `ssh-keygen -lf` prints it. */
export function sha256Fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * The lines of a known_hosts file by the host names they list plainly, and the rest (hashed names,
 * wildcards, negations) to be tested one by one. Built once per parsed file: each connection asks
 * about one name, and testing it against every line made a run's host checks hosts x lines
 * (issue 14's fan-out benchmark).
 */
interface KnownHostsIndex {
  byName: Map<string, number[]>;
  others: number[];
}
const indexes = new WeakMap<readonly KnownHostEntry[], KnownHostsIndex>();

function hostIndex(entries: readonly KnownHostEntry[]): KnownHostsIndex {
  let index = indexes.get(entries);
  if (index) return index;
  index = { byName: new Map(), others: [] };
  entries.forEach((e, i) => {
    const names = e.patterns.startsWith('|') ? null : e.patterns.split(',');
    if (!names || names.some((n) => n.startsWith('!') || hasWildcard(n, { brackets: 'literal' }))) {
      index!.others.push(i);
      return;
    }
    for (const n of new Set(names.map((x) => x.toLowerCase()))) {
      const list = index!.byName.get(n);
      if (list) list.push(i);
      else index!.byName.set(n, [i]);
    }
  });
  indexes.set(entries, index);
  return index;
}

/** The lines whose host patterns name `name`, in file order (the order ssh prefers key types in). */
function linesFor(entries: readonly KnownHostEntry[], name: string): KnownHostEntry[] {
  const index = hostIndex(entries);
  const plain = index.byName.get(name.toLowerCase()) ?? [];
  const tested = index.others.filter((i) => patternsMatch(entries[i]!.patterns, name));
  const all = tested.length === 0 ? plain : [...plain, ...tested].sort((a, b) => a - b);
  return all.map((i) => entries[i]!);
}

export function checkHostKey(entries: readonly KnownHostEntry[], name: string, blob: Buffer): HostKeyVerdict {
  const mine = linesFor(entries, name).filter((e) => e.marker !== '@cert-authority');
  if (mine.some((e) => e.marker === '@revoked' && e.key.equals(blob))) return { status: 'revoked' };
  const plain = mine.filter((e) => e.marker === undefined);
  if (plain.some((e) => e.key.equals(blob))) return { status: 'known' };
  if (plain.length === 0) return { status: 'unknown' };
  return { status: 'changed', knownTypes: [...new Set(plain.map((e) => e.keyType))] };
}

/** Key types recorded for `name`, so the client can ask the server for those first (as ssh does). */
export function knownKeyTypes(entries: readonly KnownHostEntry[], name: string): string[] {
  return [
    ...new Set(linesFor(entries, name).filter((e) => e.marker === undefined).map((e) => e.keyType)),
  ];
}

/**
 * Parsed files by path, reused while the file's identity, size and mtime are unchanged. The parse is
 * kept as a promise: a run's connections start together, and each would otherwise parse the file
 * before the first one had stored it.
 */
const parsedFiles = new Map<string, { stamp: string; entries: Promise<KnownHostEntry[]> }>();

/**
 * The entries of a known_hosts file ([] when it does not exist). Every connection reads it (a key
 * may have been added since); the parse and its index are reused while the file is unchanged
 * (same inode, size and mtime), so a run parses it once rather than once per host.
 */
export async function readKnownHosts(file: string): Promise<KnownHostEntry[]> {
  try {
    const st = await stat(file);
    const stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
    const cached = parsedFiles.get(file);
    if (cached?.stamp === stamp) return await cached.entries;
    const entries = readFile(file, 'utf8').then(parseKnownHosts);
    parsedFiles.set(file, { stamp, entries });
    // A failed read is not kept: the next connection tries again.
    entries.catch(() => parsedFiles.get(file)?.entries === entries && parsedFiles.delete(file));
    return await entries;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Appends a host key line, like StrictHostKeyChecking=accept-new does. */
export async function appendKnownHost(file: string, name: string, blob: Buffer): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  let prefix = '';
  try {
    const existing = await readFile(file, 'utf8');
    if (existing.length > 0 && !existing.endsWith('\n')) prefix = '\n';
  } catch {
    /* a new file */
  }
  await appendFile(file, `${prefix}${name} ${keyTypeOfBlob(blob)} ${blob.toString('base64')}\n`, { mode: 0o600 });
}
