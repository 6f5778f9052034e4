import { Document, isMap, isScalar, isSeq, parseDocument, Scalar, type YAMLMap, type Node as YamlNode } from 'yaml';
import { KcarunError } from '../core/errors.js';

/** What every editing function returns: the new text, and whether it differs from the input. */
export interface EditResult {
  text: string;
  changed: boolean;
}

/**
 * A path into a YAML/JSON document: `spec.containers[0].command`, `clusters[name=kubernetes].cluster`,
 * keys with dots or brackets quoted as `["a.b"]`. `[name=x]` selects the sequence item whose `name`
 * is x (kubeconfig clusters/users/contexts, pod containers).
 */
export type PathSegment = string | number | { key: string; equals: string };

export function parsePath(path: string): PathSegment[] {
  const segments: PathSegment[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new KcarunError('E_TASK', `invalid path ${JSON.stringify(path)}: ${why}`);
  };
  while (i < path.length) {
    if (path[i] === '.') {
      i++;
      continue;
    }
    if (path[i] === '[') {
      const end = path.indexOf(']', i);
      if (end < 0) fail('unclosed [');
      const inner = path.slice(i + 1, end);
      i = end + 1;
      if (/^\d+$/.test(inner)) segments.push(Number(inner));
      else if (/^"(.*)"$/.test(inner)) segments.push(JSON.parse(inner) as string);
      else {
        const eq = inner.indexOf('=');
        if (eq <= 0) fail(`expected [index], ["key"] or [key=value], got [${inner}]`);
        segments.push({ key: inner.slice(0, eq), equals: inner.slice(eq + 1).replace(/^"(.*)"$/, '$1') });
      }
      continue;
    }
    let j = i;
    while (j < path.length && path[j] !== '.' && path[j] !== '[') j++;
    segments.push(path.slice(i, j));
    i = j;
  }
  if (segments.length === 0) fail('empty');
  return segments;
}

/** The concrete key/index path of `segments` in `doc`; null when a selector matches nothing. */
function concretePath(doc: Document, segments: PathSegment[], path: string): Array<string | number> | null {
  const out: Array<string | number> = [];
  for (const seg of segments) {
    if (typeof seg !== 'object') {
      out.push(seg);
      continue;
    }
    const node = out.length === 0 ? doc.contents : doc.getIn(out, true);
    if (!isSeq(node)) {
      if (node === undefined || node === null) return null;
      throw new KcarunError('E_TASK', `path ${path}: [${seg.key}=${seg.equals}] applies to a list, found ${typeof node}`);
    }
    const index = node.items.findIndex((item) => isMap(item) && String(item.get(seg.key)) === seg.equals);
    if (index < 0) return null;
    out.push(index);
  }
  return out;
}

/** kubeadm writes lists flush with their key (`command:\n- kube-apiserver`); keep whichever style the file uses. */
function usesIndentedSequences(text: string): boolean {
  const flush = /^( *)[^\s#-][^:\n]*:[ \t]*\n\1- /m.test(text);
  const indented = /^( *)[^\s#-][^:\n]*:[ \t]*\n\1 +- /m.test(text);
  return indented || !flush;
}

export function parseYamlDocument(text: string, what = 'document'): Document {
  const doc = parseDocument(text, { keepSourceTokens: false });
  if (doc.errors.length > 0) throw new KcarunError('E_TASK', `cannot parse ${what} as YAML: ${doc.errors[0]!.message}`);
  return doc;
}

/** Serialises an edited document the way the file was written (no line folding, same list indent). */
export function stringifyYamlDocument(doc: Document, original: string): string {
  return doc.toString({ lineWidth: 0, indentSeq: usesIndentedSequences(original) });
}

/**
 * Edits a parsed document so that a value replacement only rewrites that value's bytes in the
 * original text (comments, spacing and quoting elsewhere stay exactly as written). Structural
 * changes (a new key or list item, a deletion) re-serialise the document with the file's style.
 */
export class YamlEditor {
  readonly doc: Document;
  private readonly splices: Array<{ start: number; end: number; text: string }> = [];
  private structural = false;

  constructor(readonly text: string, what = 'document') {
    this.doc = parseYamlDocument(text, what);
  }

  /** Replaces a scalar (a value, or a map key) in place. */
  setScalar(node: Scalar, value: string | number | boolean | null): void {
    if (node.value === value) return;
    node.value = value;
    const rendered = renderScalar(node);
    if (node.range && rendered !== undefined) this.splices.push({ start: node.range[0], end: node.range[1], text: rendered });
    else this.structural = true;
  }

  /** Replaces the value of `key` in a map with a scalar (in place when it was a one-line scalar). */
  setPairValue(map: YAMLMap, key: string, value: string): void {
    const pair = map.items.find((p) => isScalar(p.key) && p.key.value === key);
    if (pair && isScalar(pair.value)) return this.setScalar(pair.value, value);
    this.structuralChange(() => map.set(key, value));
  }

  /**
   * Removes `key` from a block map by deleting its line, when the pair is a one-line `key: scalar`
   * on a line of its own; otherwise the document is re-serialised.
   */
  deletePair(map: YAMLMap, key: string): void {
    const pair = map.items.find((p) => isScalar(p.key) && p.key.value === key);
    if (!pair) return;
    const line = map.items.length > 1 ? this.ownLine(pair.key, pair.value) : undefined;
    map.delete(key);
    if (line) this.splices.push({ start: line.start, end: line.end, text: '' });
    else this.structural = true;
  }

  /**
   * Appends `key: value` to a block map, on a new line after its last pair with the indent of its
   * first key, when both are one-line `key: scalar` pairs; otherwise the document is re-serialised.
   */
  addPair(map: YAMLMap, key: string, value: string): void {
    // Pairs added by this editor have no source range: the new line goes after the last original one.
    const original = map.items.filter((p) => isScalar(p.key) && p.key.range);
    const first = original[0];
    const last = original.at(-1);
    const firstLine = first ? this.ownLine(first.key, first.value) : undefined;
    const lastLine = last ? this.ownLine(last.key, last.value) : undefined;
    const node = new Scalar(value);
    map.set(key, node);
    const rendered = renderScalar(node);
    if (!firstLine || !lastLine || rendered === undefined) {
      this.structural = true;
      return;
    }
    const keyText = renderScalar(new Scalar(key))!;
    const line = `${firstLine.indent}${keyText}: ${rendered}`;
    const atEnd = lastLine.end === this.text.length && !this.text.endsWith('\n');
    this.splices.push({ start: lastLine.end, end: lastLine.end, text: atEnd ? `\n${line}` : `${line}\n` });
  }

  /**
   * The text range of a `key: value` pair that fills its own lines (only indentation before the key;
   * nothing but a comment after a one-line scalar value), with the newline; undefined otherwise.
   */
  private ownLine(key: unknown, value: unknown): { start: number; end: number; indent: string } | undefined {
    if (!isScalar(key) || !isScalar(value) || !key.range || !value.range) return undefined;
    if (value.type === 'BLOCK_FOLDED' || value.type === 'BLOCK_LITERAL') return undefined;
    const start = this.text.lastIndexOf('\n', key.range[0] - 1) + 1;
    const indent = this.text.slice(start, key.range[0]);
    if (!/^[ \t]*$/.test(indent)) return undefined;
    const nl = this.text.indexOf('\n', value.range[1]);
    const end = nl < 0 ? this.text.length : nl + 1;
    if (!/^[ \t]*(#.*)?\r?\n?$/.test(this.text.slice(value.range[1], end))) return undefined;
    if (this.text.slice(key.range[0], value.range[0]).includes('\n')) return undefined;
    return { start, end, indent };
  }

  /** Any other change to `doc`: the whole document is re-serialised. */
  structuralChange(change: (doc: Document) => void): void {
    change(this.doc);
    this.structural = true;
  }

  result(): EditResult {
    let out: string;
    if (this.structural) out = stringifyYamlDocument(this.doc, this.text);
    else {
      out = this.text;
      // Back to front, so earlier offsets stay valid. At one offset: a removal first, then the
      // insertions, the last one first (so they end up in the order they were made).
      const ordered = this.splices.map((s, i) => ({ ...s, i })).sort((a, b) => b.start - a.start || b.end - a.end || b.i - a.i);
      for (const s of ordered) out = out.slice(0, s.start) + s.text + out.slice(s.end);
    }
    return { text: out, changed: out !== this.text };
  }
}

/** A scalar as it would appear inline, in its original quoting style when still valid; undefined for block scalars. */
function renderScalar(node: Scalar): string | undefined {
  if (node.type === 'BLOCK_FOLDED' || node.type === 'BLOCK_LITERAL') return undefined;
  const copy = new Scalar(node.value);
  if (typeof node.value === 'string' && node.type) copy.type = node.type;
  const out = new Document(copy).toString({ lineWidth: 0 }).replace(/\n$/, '');
  return out.includes('\n') ? undefined : out;
}

function isPrimitive(value: unknown): value is string | number | boolean | null {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}

function isJson(text: string): boolean {
  return /^\s*[{[]/.test(text);
}

function jsonIndent(text: string): string | number {
  const m = /\n([ \t]+)"/.exec(text);
  return m ? m[1]! : text.includes('\n') ? 2 : 0;
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function toJs(node: unknown): unknown {
  if (node && typeof node === 'object' && 'toJSON' in node && typeof (node as { toJSON: unknown }).toJSON === 'function') {
    return (node as { toJSON(): unknown }).toJSON();
  }
  return isScalar(node) ? node.value : node;
}

/** Sets the value at `path` (creating maps on the way), preserving comments and layout elsewhere. */
export function setPath(text: string, path: string, value: unknown): EditResult {
  const segments = parsePath(path);
  if (isJson(text)) return setJsonPath(text, segments, path, value);
  const editor = new YamlEditor(text);
  const doc = editor.doc;
  const concrete = concretePath(doc, segments, path);
  if (!concrete) throw new KcarunError('E_TASK', `path ${path}: no list item matches`);
  const existing: unknown = doc.getIn(concrete, true);
  if (doc.hasIn(concrete) && deepEqual(toJs(existing), value)) return { text, changed: false };
  if (isScalar(existing) && isPrimitive(value)) editor.setScalar(existing, value);
  else if (!doc.hasIn(concrete)) {
    // A new key: inserted as text under its block map, so nothing else is re-spaced (issue 13.9).
    const inserted = insertKey(text, doc, concrete, value);
    if (inserted !== undefined) return { text: inserted, changed: true };
    editor.structuralChange((d) => d.setIn(concrete, d.createNode(value)));
  } else editor.structuralChange((d) => d.setIn(concrete, d.createNode(value)));
  return editor.result();
}

/**
 * Adds a key that does not exist yet by inserting `key: value` lines after the last entry of the
 * nearest existing block map on the path (creating the missing maps inside the inserted text), at
 * that map's indentation. Everything else keeps its bytes. Undefined when the place is not a
 * plain block map (a flow map, a list on the way, an empty map): the caller re-serialises.
 * The result is parsed back and must equal the document with the value set, or it is not used.
 */
function insertKey(text: string, doc: Document, concrete: Array<string | number>, value: unknown): string | undefined {
  let depth = concrete.length - 1;
  while (depth > 0 && !doc.hasIn(concrete.slice(0, depth))) depth--;
  const parent = depth === 0 ? doc.contents : doc.getIn(concrete.slice(0, depth), true);
  const rest = concrete.slice(depth);
  if (!isMap(parent) || parent.flow || parent.items.length === 0 || rest.some((k) => typeof k !== 'string')) return undefined;
  const first = parent.items[0]!.key as YamlNode | null;
  const last = parent.items[parent.items.length - 1]!;
  const lastNode = (last.value ?? last.key) as YamlNode | null;
  if (!first?.range || !lastNode?.range) return undefined;
  const indent = first.range[0] - (text.lastIndexOf('\n', first.range[0] - 1) + 1);
  if (text.slice(first.range[0] - indent, first.range[0]).trim() !== '') return undefined;
  let nested: unknown = value;
  for (const k of [...rest].reverse().slice(0, -1)) nested = { [k as string]: nested };
  const snippet = new Document({ [rest[0] as string]: nested }).toString({ lineWidth: 0, indentSeq: usesIndentedSequences(text) });
  const lines = snippet.replace(/\n$/, '').split('\n').map((l) => ' '.repeat(indent) + l).join('\n');
  const lineEnd = text.indexOf('\n', lastNode.range[1] > 0 ? lastNode.range[1] - 1 : 0);
  const at = lineEnd < 0 ? text.length : lineEnd + 1;
  const out = lineEnd < 0 ? `${text}\n${lines}\n` : `${text.slice(0, at)}${lines}\n${text.slice(at)}`;
  try {
    const check = parseYamlDocument(out);
    const wanted = parseYamlDocument(text);
    wanted.setIn(concrete, wanted.createNode(value));
    if (!deepEqual(check.toJS(), wanted.toJS())) return undefined;
  } catch {
    return undefined;
  }
  return out;
}

/** Deletes the value at `path`; absent already -> unchanged. */
export function deletePath(text: string, path: string): EditResult {
  const segments = parsePath(path);
  if (isJson(text)) return deleteJsonPath(text, segments, path);
  const doc = parseYamlDocument(text);
  const concrete = concretePath(doc, segments, path);
  if (!concrete || !doc.hasIn(concrete)) return { text, changed: false };
  doc.deleteIn(concrete);
  const out = stringifyYamlDocument(doc, text);
  return { text: out, changed: out !== text };
}

/** Reads the value at `path` as plain data (undefined when absent). */
export function getPath(text: string, path: string): unknown {
  const segments = parsePath(path);
  if (isJson(text)) {
    const data = JSON.parse(text) as unknown;
    const concrete = concreteJsonPath(data, segments);
    return concrete ? walkJson(data, concrete) : undefined;
  }
  const doc = parseYamlDocument(text);
  const concrete = concretePath(doc, segments, path);
  return concrete ? toJs(doc.getIn(concrete, true)) : undefined;
}

// ---- JSON (kubelet config.json, CNI configs): re-serialised with the file's own indent ----

function concreteJsonPath(data: unknown, segments: PathSegment[]): Array<string | number> | null {
  const out: Array<string | number> = [];
  let node: unknown = data;
  for (const seg of segments) {
    if (typeof seg === 'object') {
      if (!Array.isArray(node)) return null;
      const index = node.findIndex((item) => item && typeof item === 'object' && String((item as Record<string, unknown>)[seg.key]) === seg.equals);
      if (index < 0) return null;
      out.push(index);
      node = node[index];
    } else {
      out.push(seg);
      node = node && typeof node === 'object' ? (node as Record<string | number, unknown>)[seg] : undefined;
    }
  }
  return out;
}

function walkJson(data: unknown, path: Array<string | number>): unknown {
  let node = data;
  for (const k of path) node = node && typeof node === 'object' ? (node as Record<string | number, unknown>)[k] : undefined;
  return node;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new KcarunError('E_TASK', `cannot parse JSON: ${(err as Error).message}`);
  }
}

function setJsonPath(text: string, segments: PathSegment[], path: string, value: unknown): EditResult {
  const data = parseJson(text);
  const concrete = concreteJsonPath(data, segments);
  if (!concrete) throw new KcarunError('E_TASK', `path ${path}: no list item matches`);
  if (deepEqual(walkJson(data, concrete), value)) return { text, changed: false };
  let node = data as Record<string | number, unknown>;
  for (const [i, k] of concrete.entries()) {
    if (i === concrete.length - 1) node[k] = value;
    else {
      if (node[k] === undefined || node[k] === null) node[k] = typeof concrete[i + 1] === 'number' ? [] : {};
      node = node[k] as Record<string | number, unknown>;
    }
  }
  return { text: JSON.stringify(data, null, jsonIndent(text)) + (text.endsWith('\n') ? '\n' : ''), changed: true };
}

function deleteJsonPath(text: string, segments: PathSegment[], path: string): EditResult {
  const data = parseJson(text);
  const concrete = concreteJsonPath(data, segments);
  if (!concrete) return { text, changed: false };
  const parent = walkJson(data, concrete.slice(0, -1));
  const last = concrete[concrete.length - 1]!;
  if (!parent || typeof parent !== 'object' || !(last in parent)) return { text, changed: false };
  if (Array.isArray(parent) && typeof last === 'number') parent.splice(last, 1);
  else delete (parent as Record<string, unknown>)[last];
  void path;
  return { text: JSON.stringify(data, null, jsonIndent(text)) + (text.endsWith('\n') ? '\n' : ''), changed: true };
}
