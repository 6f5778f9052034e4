import picomatch from 'picomatch';

/**
 * A test of names (host names, inventory group names) against a shell-style wildcard, by
 * picomatch: `*` any run of characters, `?` one character, `[...]` a character class. Braces and
 * extglobs stay literal, and so does a leading `!` (callers handle negation themselves). With
 * `brackets: 'literal'`, `[` and `]` are plain characters, as in OpenSSH known_hosts patterns,
 * where `[host]:port` names a host on another port.
 */
export function wildcardMatcher(pattern: string, options: { nocase?: boolean; brackets?: 'class' | 'literal' } = {}): (name: string) => boolean {
  const glob = options.brackets === 'literal' ? pattern.replace(/[[\]]/g, '\\$&') : pattern;
  return picomatch(glob, { dot: true, nobrace: true, noextglob: true, nonegate: true, nocase: options.nocase ?? false });
}

/** Whether a pattern has wildcards at all (else it is compared as a plain name). */
export function hasWildcard(pattern: string, options: { brackets?: 'class' | 'literal' } = {}): boolean {
  return options.brackets === 'literal' ? /[*?]/.test(pattern) : /[*?[]/.test(pattern);
}
