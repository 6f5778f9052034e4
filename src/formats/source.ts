import { open, stat } from 'node:fs/promises';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import { KcarunError, KcarunErrorList, type SourcePosition } from '../core/errors.js';

export type PathSegment = string | number;

/** A YAML file parsed with positions, so any error can point at FILE:LINE:COL. */
export interface SourceFile {
  file: string;
  /** The file's text as read (what checksums are taken over). */
  text: string;
  doc: Document;
  lineCounter: LineCounter;
  /** The plain JS value of the document. */
  value: unknown;
}

/**
 * Reads and parses a YAML file. Reads at most YAML_LIMITS.maxBytes + 1 bytes, so /dev/zero or a
 * huge sparse file is refused at once (exit 2, FILE:1:1) instead of first filling memory; a pipe
 * (`-i <(generate)`) is read like a file. Errors: E_USAGE when the file cannot be read, E_YAML
 * (with a position) when it is too big or not valid YAML.
 */
export async function readSourceFile(file: string): Promise<SourceFile> {
  let bytes: Buffer;
  try {
    bytes = await readAtMost(file, YAML_LIMITS.maxBytes + 1);
  } catch (err) {
    throw new KcarunError('E_USAGE', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {}, { cause: err });
  }
  if (bytes.length > YAML_LIMITS.maxBytes) {
    // A regular file's size is known (a pipe's or a device's is not).
    const size = await stat(file).then((st) => (st.isFile() ? `${(st.size / 1024 / 1024).toFixed(1)} MiB` : undefined), () => undefined);
    throw new KcarunError('E_YAML', `the file is ${size ?? `larger than ${YAML_LIMITS.maxBytes / 1024 / 1024} MiB`}; kcarun reads YAML files up to ${YAML_LIMITS.maxBytes / 1024 / 1024} MiB (split it, or move data into files the tasks read)`, { position: { file, line: 1, col: 1 } });
  }
  return parseSource(file, bytes.toString('utf8'));
}

/** The first `limit` bytes of a file (all of it when shorter), read in chunks. */
async function readAtMost(file: string, limit: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    while (total < limit) {
      const chunk = Buffer.alloc(Math.min(65536, limit - total));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
    }
    return Buffer.concat(chunks);
  } finally {
    await handle.close();
  }
}

/**
 * Limits for every YAML file kcarun reads (playbooks, inventories, -e files), so a hostile or broken
 * file is answered with exit 2 and a position instead of a hang, a crash or gigabytes of memory:
 * its size (real playbooks and inventories are kilobytes; the parser's time grows faster than the
 * size), how deep mappings and lists nest, and how many alias expansions ("billion laughs").
 */
export const YAML_LIMITS = { maxBytes: 1024 * 1024, maxDepth: 64, maxAliasCount: 100 } as const;

/** Parses YAML text; every syntax error is reported with its position, all at once. */
export function parseSource(file: string, text: string): SourceFile {
  const lineCounter = new LineCounter();
  const fail = (line: number, col: number, message: string): never => {
    throw new KcarunError('E_YAML', message, { position: { file, line, col } });
  };
  if (Buffer.byteLength(text) > YAML_LIMITS.maxBytes) {
    fail(1, 1, `the file is ${(Buffer.byteLength(text) / 1024 / 1024).toFixed(1)} MiB; kcarun reads YAML files up to ${YAML_LIMITS.maxBytes / 1024 / 1024} MiB (split it, or move data into files the tasks read)`);
  }
  const tooDeep = deepLine(text);
  if (tooDeep) fail(tooDeep, 1, `nesting is deeper than ${YAML_LIMITS.maxDepth} levels`);
  let doc: Document;
  try {
    // uniqueKeys: a duplicated key is an error, not a silent override.
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  } catch (err) {
    if (err instanceof RangeError) return fail(1, 1, `nesting is too deep to read (more than ${YAML_LIMITS.maxDepth} levels)`);
    throw err;
  }
  if (doc.errors.length > 0) {
    const errors = doc.errors.map((e) => {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      return new KcarunError('E_YAML', e.message.split('\n')[0] ?? e.message, { position: { file, line, col } });
    });
    throw errors.length === 1 ? errors[0]! : new KcarunErrorList('E_YAML', `${file}: ${errors.length} YAML errors`, errors);
  }
  // Checked before toJS, which throws the same ReferenceError for an undefined alias as for too
  // many expansions (yaml 2.x Alias.resolve) and without saying where.
  const unresolved = unresolvedAliases(doc).map(({ name, offset }) => {
    const { line, col } = lineCounter.linePos(offset);
    return new KcarunError('E_YAML', `alias *${name} names no anchor defined before it (define it with &${name} first)`, { position: { file, line, col } });
  });
  if (unresolved.length > 0) throw unresolved.length === 1 ? unresolved[0]! : new KcarunErrorList('E_YAML', `${file}: ${unresolved.length} YAML errors`, unresolved);
  let value: unknown;
  try {
    // maxAliasCount bounds "billion laughs" documents.
    value = doc.toJS({ maxAliasCount: YAML_LIMITS.maxAliasCount });
  } catch (err) {
    if (!(err instanceof ReferenceError || err instanceof RangeError)) throw err;
    let at: number | undefined;
    visit(doc, { Alias: (_key, node) => ((at ??= node.range?.[0]), visit.BREAK) });
    const { line, col } = lineCounter.linePos(at ?? 0);
    return fail(line, col, `aliases expand too much (more than ${YAML_LIMITS.maxAliasCount} times, a "billion laughs" document?): ${(err as Error).message}`);
  }
  return { file, text, doc, lineCounter, value };
}

/**
 * Every alias whose anchor is not set earlier in the document, in document order. YAML 1.2 (3.2.2.2)
 * lets an alias refer only to the most recent preceding node with that anchor, which is the rule
 * the yaml package's Alias.resolve applies: anchors are collected in the same visit order.
 */
function unresolvedAliases(doc: Document): { name: string; offset: number }[] {
  const anchors = new Set<string>();
  const missing: { name: string; offset: number }[] = [];
  visit(doc, {
    Node: (_key, node) => {
      if (isAlias(node)) {
        if (!anchors.has(node.source)) missing.push({ name: node.source, offset: node.range?.[0] ?? 0 });
      } else if (node.anchor) anchors.add(node.anchor);
    },
  });
  return missing;
}

/**
 * The first line nested deeper than the limit, by indentation (block style) or open brackets (flow
 * style), found without parsing: the parser itself recurses per level and would overflow first.
 */
function deepLine(text: string): number | undefined {
  let flow = 0;
  let lineNo = 0;
  const indents: number[] = [];
  for (const line of text.split('\n')) {
    lineNo++;
    const content = line.trimStart();
    if (!content || content.startsWith('#')) continue;
    const indent = line.length - content.length;
    while (indents.length && indents[indents.length - 1]! >= indent) indents.pop();
    indents.push(indent);
    // A "- key:" line opens two levels.
    const levels = indents.length + (/^-\s+[^\s#][^#]*:(\s|$)/.test(content) ? 1 : 0);
    for (const ch of content) {
      if (ch === '[' || ch === '{') {
        if (levels + ++flow > YAML_LIMITS.maxDepth) return lineNo;
      } else if (ch === ']' || ch === '}') flow = Math.max(0, flow - 1);
    }
    if (levels + flow > YAML_LIMITS.maxDepth) return lineNo;
  }
  return undefined;
}

/**
 * The position of the node at `path` (the key's position for a map entry, so the error points at
 * the offending key). Falls back to the deepest node found when the path goes past the document.
 */
export function locate(source: SourceFile, path: readonly PathSegment[]): SourcePosition {
  let node: unknown = source.doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && keyText(p.key) === String(segment));
      if (!pair) break;
      offset = rangeStart(pair.key) ?? offset;
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(segment)];
      if (item === undefined) break;
      offset = rangeStart(item) ?? offset;
      node = item;
    } else {
      break;
    }
  }
  const { line, col } = source.lineCounter.linePos(offset);
  return { file: source.file, line, col };
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | null)?.range;
  return range ? range[0] : undefined;
}
