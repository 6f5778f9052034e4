import { KcarunError } from '../core/errors.js';
import { safeRegExp } from '../core/safe-regex.js';
import type { EditResult } from './yaml-path.js';

function compile(pattern: string, flags: string): RegExp {
  try {
    // RE2: linear time, so a hostile pattern cannot hang the run (src/core/safe-regex.ts).
    return safeRegExp(pattern, flags);
  } catch (err) {
    throw new KcarunError('E_TASK', `invalid regular expression ${JSON.stringify(pattern)}: ${(err as Error).message}`);
  }
}

/**
 * Replaces every match of `pattern` (RE2 syntax: JavaScript's without lookaround; `$1` in the replacement). Unlike sed, a
 * replacement that still matches is fine: the result is compared, not the match count.
 */
export function regexReplace(text: string, options: { pattern: string; replacement: string; flags?: string }): EditResult {
  const flags = options.flags ?? 'gm';
  const out = text.replace(compile(options.pattern, flags.includes('g') ? flags : `${flags}g`), options.replacement);
  return { text: out, changed: out !== text };
}

/**
 * Like Ansible's lineinfile: the last line matching `match` becomes `line`; with no match the line
 * is appended (unless `appendIfMissing` is false). A file that already has `line` is unchanged.
 */
export function replaceLine(text: string, options: { match: string; line: string; appendIfMissing?: boolean }): EditResult {
  if (options.line.includes('\n')) throw new KcarunError('E_TASK', '`line` must be a single line');
  const re = compile(options.match, '');
  const lines = text === '' ? [] : text.split('\n');
  const trailingNewline = text.endsWith('\n');
  if (trailingNewline) lines.pop();
  let index = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (re.test(lines[i]!)) {
      index = i;
      break;
    }
  }
  if (index < 0) {
    if (lines.includes(options.line) || options.appendIfMissing === false) return { text, changed: false };
    lines.push(options.line);
  } else {
    if (lines[index] === options.line) return { text, changed: false };
    lines[index] = options.line;
  }
  const out = lines.join('\n') + (trailingNewline || text === '' ? '\n' : '');
  return { text: out, changed: out !== text };
}
