import { regexProblem } from '../core/safe-regex.js';
import { hasTemplate } from './template.js';

/** Param names that hold a regular expression, in any task or probe (matched at any depth). */
const REGEX_KEYS = new Set(['changedWhen', 'stdoutMatches', 'bodyMatches']);

/**
 * Every regular expression in a task's params that RE2 cannot compile, with its path: refused by
 * `kcarun validate` before any host is touched (and before a command runs only to have its
 * changedWhen fail). Templated patterns are checked when rendered, at run time.
 */
export function regexParamProblems(params: unknown): { path: (string | number)[]; message: string }[] {
  const found: { path: (string | number)[]; message: string }[] = [];
  const check = (pattern: unknown, flags: unknown, path: (string | number)[]) => {
    if (typeof pattern !== 'string' || hasTemplate(pattern)) return;
    const problem = regexProblem(pattern, typeof flags === 'string' ? flags.replace('g', '') : '');
    if (problem) found.push({ path, message: problem });
  };
  const walk = (v: unknown, path: (string | number)[]): void => {
    if (Array.isArray(v)) v.forEach((item, i) => walk(item, [...path, i]));
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      // file-patch edits: { op: regex, pattern, flags } and { op: line, match }.
      if (o.op === 'regex') check(o.pattern, o.flags, [...path, 'pattern']);
      if (o.op === 'line') check(o.match, '', [...path, 'match']);
      for (const [k, item] of Object.entries(o)) {
        if (REGEX_KEYS.has(k)) check(item, '', [...path, k]);
        else walk(item, [...path, k]);
      }
    }
  };
  walk(params, []);
  return found;
}
