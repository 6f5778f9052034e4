import { KcarunError } from '../core/errors.js';
import { normalizeFlag } from './manifest-flag.js';
import type { EditResult } from './yaml-path.js';

/**
 * Flags on a systemd unit's ExecStart (the hand-installed "binary" layout: etcd.service,
 * kube-apiserver.service), edited in place so that everything else in the file stays byte for
 * byte: other lines, comments, backslash continuations and their indentation.
 */
export interface UnitFlagTarget {
  flag: string;
}

interface Token {
  start: number;
  end: number;
  /** The word with quotes removed. */
  word: string;
}

/** The last non-empty `ExecStart=` (a drop-in resets it with an empty one), spanning continuations. */
function execStartRange(text: string): { start: number; end: number } {
  const re = /^[ \t]*ExecStart[ \t]*=[ \t]*(.*)$/gm;
  let found: { start: number; end: number } | undefined;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    if (m[1]!.trim() === '') continue;
    const start = m.index + m[0].indexOf('=') + 1;
    let end = m.index + m[0].length;
    // Follow `\` continuations onto the next lines.
    while (/\\[ \t]*$/.test(text.slice(start, end)) && end < text.length) {
      const nextEnd = text.indexOf('\n', end + 1);
      end = nextEnd < 0 ? text.length : nextEnd;
    }
    found = { start, end };
  }
  if (!found) throw new KcarunError('E_TASK', 'no ExecStart= line in the unit file');
  return found;
}

function tokenize(text: string, range: { start: number; end: number }): Token[] {
  const tokens: Token[] = [];
  let i = range.start;
  while (i < range.end) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '\\' && /^\\[ \t]*\r?\n/.test(text.slice(i, range.end + 1))) {
      i = text.indexOf('\n', i) + 1;
      continue;
    }
    const start = i;
    let word = '';
    while (i < range.end && !/[ \t\r\n]/.test(text[i]!)) {
      const ch = text[i]!;
      if (ch === '"' || ch === "'") {
        const close = text.indexOf(ch, i + 1);
        if (close < 0 || close >= range.end) throw new KcarunError('E_TASK', 'unbalanced quote in ExecStart');
        word += text.slice(i + 1, close);
        i = close + 1;
      } else if (ch === '\\' && i + 1 < range.end && /\r?\n/.test(text[i + 1]!)) {
        break;
      } else {
        word += ch;
        i++;
      }
    }
    tokens.push({ start, end: i, word });
  }
  return tokens;
}

function quoteForSystemd(value: string): string {
  if (/^[^\s"'\\]*$/.test(value)) return value;
  if (/["\\\n]/.test(value)) throw new KcarunError('E_TASK', `cannot put ${JSON.stringify(value)} on an ExecStart line`);
  return `"${value}"`;
}

function find(tokens: Token[], flag: string): { index: number; valueIndex?: number; value: string | undefined } | undefined {
  // tokens[0] is the binary.
  for (let index = 1; index < tokens.length; index++) {
    const w = tokens[index]!.word;
    if (w.startsWith(`${flag}=`)) return { index, value: w.slice(flag.length + 1) };
    if (w === flag) {
      const next = tokens[index + 1];
      if (next && !next.word.startsWith('-')) return { index, valueIndex: index + 1, value: next.word };
      return { index, value: undefined };
    }
  }
  return undefined;
}

export function getUnitFlag(text: string, target: UnitFlagTarget): string | undefined {
  return find(tokenize(text, execStartRange(text)), normalizeFlag(target.flag))?.value;
}

export function setUnitFlag(text: string, target: UnitFlagTarget & { value: string }): EditResult {
  const flag = normalizeFlag(target.flag);
  const range = execStartRange(text);
  const tokens = tokenize(text, range);
  const at = find(tokens, flag);
  if (at?.value === target.value) return { text, changed: false };
  const value = quoteForSystemd(target.value);
  let out: string;
  if (at?.valueIndex !== undefined) {
    const v = tokens[at.valueIndex]!;
    out = text.slice(0, v.start) + value + text.slice(v.end);
  } else if (at) {
    const t = tokens[at.index]!;
    out = text.slice(0, t.start) + `${flag}=${value}` + text.slice(t.end);
  } else {
    const last = tokens[tokens.length - 1]!;
    const multiLine = text.slice(range.start, range.end).includes('\n');
    if (multiLine) {
      // A new continuation line, indented like the last one.
      const lineStart = text.lastIndexOf('\n', last.start) + 1;
      const indent = /^[ \t]*/.exec(text.slice(lineStart))![0];
      out = `${text.slice(0, last.end)} \\\n${indent}${flag}=${value}${text.slice(last.end)}`;
    } else {
      out = `${text.slice(0, last.end)} ${flag}=${value}${text.slice(last.end)}`;
    }
  }
  return { text: out, changed: out !== text };
}

export function removeUnitFlag(text: string, target: UnitFlagTarget): EditResult {
  const flag = normalizeFlag(target.flag);
  const tokens = tokenize(text, execStartRange(text));
  const at = find(tokens, flag);
  if (!at) return { text, changed: false };
  // From the end of the previous word through the flag (and its value): this takes the separating
  // space or ` \` + newline + indent with it, so no empty continuation line is left behind.
  const prev = tokens[at.index - 1]!;
  const lastRemoved = tokens[at.valueIndex ?? at.index]!;
  const out = text.slice(0, prev.end) + text.slice(lastRemoved.end);
  return { text: out, changed: true };
}
