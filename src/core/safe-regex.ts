import { createRequire } from 'node:module';

/**
 * Regular expressions from playbooks (file-patch `regex`, `changedWhen`, `until.stdoutMatches`,
 * probes' `stdoutMatches`/`bodyMatches`) run on RE2 (the re2-wasm package): matching time grows
 * linearly with the input, so a pattern such as `(a+)+$` cannot hang a run past its timeout and
 * SIGTERM (JavaScript's backtracking engine took 190 s on 34 characters). RE2 syntax is
 * JavaScript's without lookaround and backreferences (https://github.com/google/re2/wiki/Syntax);
 * `kcarun validate` compiles every such pattern, so a pattern RE2 cannot take is refused before
 * any host is touched.
 */
type Re2Constructor = new (pattern: string, flags?: string) => RegExp;
let re2: Re2Constructor | undefined;

function RE2(): Re2Constructor {
  // Loaded on first use (about 50 ms of WebAssembly): `kcarun validate` without regexes never pays.
  re2 ??= (createRequire(import.meta.url)('re2-wasm') as { RE2: Re2Constructor }).RE2;
  return re2;
}

/**
 * Compiled matchers by flags + pattern. Compiling in re2-wasm costs ~1.2 ms and a fresh object's
 * first match another ~1 ms (measured on the 2-core CI machine), a reused one's ~0.03 ms; a playbook
 * uses the same few patterns on every host (a 50-host fan-out compiled two patterns 100 times:
 * ~0.2 s of CPU, issue 14's benchmark). Patterns come from playbooks, so the set is small; the bound
 * only keeps a hostile one from growing memory without limit (WebAssembly memory is not returned).
 */
const compiled = new Map<string, RegExp>();
const COMPILED_MAX = 512;

/**
 * A RegExp-like matcher (test, exec, replace, match) on RE2, shared by every caller with the same
 * pattern and flags: callers use it at once, without an await in between (a `g`/`y` matcher's
 * lastIndex is reset to 0 each time it is handed out). Throws an Error naming the problem.
 */
export function safeRegExp(pattern: string, flags = ''): RegExp {
  // re2-wasm works on Unicode strings only: the `u` flag is always on.
  const f = flags.includes('u') ? flags : `${flags}u`;
  const key = `${f}/${pattern}`;
  let re = compiled.get(key);
  if (re === undefined) {
    re = new (RE2())(pattern, f);
    if (compiled.size >= COMPILED_MAX) compiled.delete(compiled.keys().next().value!);
    compiled.set(key, re);
  }
  re.lastIndex = 0;
  return re;
}

/** Why a pattern cannot be used (RE2 refuses it), or undefined when it can. */
export function regexProblem(pattern: string, flags = ''): string | undefined {
  try {
    safeRegExp(pattern, flags);
    return undefined;
  } catch (err) {
    const message = (err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
    const hint = /\(\?[=!<]|\\[1-9]/.test(pattern) ? ' (lookaround and backreferences are not supported: RE2 syntax)' : '';
    return `invalid regular expression /${pattern}/: ${message}${hint}`;
  }
}
