import { readFile } from 'node:fs/promises';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
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

export async function readSourceFile(file: string): Promise<SourceFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new KcarunError('E_USAGE', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {}, { cause: err });
  }
  return parseSource(file, text);
}

/** Parses YAML text; every syntax error is reported with its position, all at once. */
export function parseSource(file: string, text: string): SourceFile {
  const lineCounter = new LineCounter();
  // uniqueKeys: a duplicated key is an error, not a silent override.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  if (doc.errors.length > 0) {
    const errors = doc.errors.map((e) => {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      return new KcarunError('E_YAML', e.message.split('\n')[0] ?? e.message, { position: { file, line, col } });
    });
    throw errors.length === 1 ? errors[0]! : new KcarunErrorList('E_YAML', `${file}: ${errors.length} YAML errors`, errors);
  }
  // maxAliasCount bounds "billion laughs" documents.
  return { file, text, doc, lineCounter, value: doc.toJS({ maxAliasCount: 100 }) };
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
