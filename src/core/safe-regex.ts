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

/** A RegExp-like matcher (test, exec, replace, match) on RE2. Throws an Error naming the problem. */
export function safeRegExp(pattern: string, flags = ''): RegExp {
  // re2-wasm works on Unicode strings only: the `u` flag is always on.
  return new (RE2())(pattern, flags.includes('u') ? flags : `${flags}u`);
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
