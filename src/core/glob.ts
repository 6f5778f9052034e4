import { createRequire } from 'node:module';
import type picomatchType from 'picomatch';

// picomatch is required on the first wildcard, not at start-up: most inventories and known_hosts
// files have none, and every kcarun command would pay its load (issue 14's start-up benchmark).
let picomatch: typeof picomatchType | undefined;

/**
 * A test of names (host names, inventory group names) against a shell-style wildcard, by
 * picomatch: `*` any run of characters, `?` one character, `[...]` a character class. Braces and
 * extglobs stay literal, and so does a leading `!` (callers handle negation themselves). With
 * `brackets: 'literal'`, `[` and `]` are plain characters, as in OpenSSH known_hosts patterns,
 * where `[host]:port` names a host on another port.
 */
export function wildcardMatcher(pattern: string, options: { nocase?: boolean; brackets?: 'class' | 'literal' } = {}): (name: string) => boolean {
  const glob = options.brackets === 'literal' ? pattern.replace(/[[\]]/g, '\\$&') : pattern;
  picomatch ??= createRequire(import.meta.url)('picomatch') as typeof picomatchType;
  return picomatch(glob, { dot: true, nobrace: true, noextglob: true, nonegate: true, nocase: options.nocase ?? false });
}

/** Whether a pattern has wildcards at all (else it is compared as a plain name). */
export function hasWildcard(pattern: string, options: { brackets?: 'class' | 'literal' } = {}): boolean {
  return options.brackets === 'literal' ? /[*?]/.test(pattern) : /[*?[]/.test(pattern);
}
