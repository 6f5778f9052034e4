import { describe, expect, it } from 'vitest';
import { regexProblem, safeRegExp } from '../../src/core/safe-regex.js';

describe('safeRegExp (RE2, compiled once per pattern and flags)', () => {
  it('hands out one compiled matcher per pattern and flags, and a different one for other flags', () => {
    expect(safeRegExp('^flag=', 'm')).toBe(safeRegExp('^flag=', 'm'));
    expect(safeRegExp('^flag=', 'm')).toBe(safeRegExp('^flag=', 'mu'));
    expect(safeRegExp('^flag=', 'm')).not.toBe(safeRegExp('^flag=', ''));
    expect(safeRegExp('^flag=', 'm').test('a\nflag=on')).toBe(true);
    expect(safeRegExp('^flag=', '').test('a\nflag=on')).toBe(false);
  });

  it('a shared global matcher starts from the beginning each time it is handed out (lastIndex reset)', () => {
    const text = 'x=1\nx=2\n';
    // test() on a g matcher advances lastIndex; without the reset the second caller would start
    // after the first match and see a different answer for the same input.
    expect(safeRegExp('x=1', 'g').test(text)).toBe(true);
    expect(safeRegExp('x=1', 'g').test(text)).toBe(true);
    expect(text.replace(safeRegExp('x=(\\d)', 'gm'), 'y=$1')).toBe('y=1\ny=2\n');
    expect(text.replace(safeRegExp('x=(\\d)', 'gm'), 'z=$1')).toBe('z=1\nz=2\n');
  });

  it('still refuses what RE2 cannot take, every time it is asked', () => {
    expect(regexProblem('(?=a)b')).toMatch(/lookaround and backreferences are not supported/);
    expect(regexProblem('(?=a)b')).toMatch(/lookaround/); // a refused pattern is not cached as compiled
    expect(regexProblem('^ok$')).toBeUndefined();
  });

  it('matches a catastrophic-backtracking pattern in linear time from the cache too', () => {
    const input = `${'a'.repeat(5000)}!`;
    for (let i = 0; i < 3; i++) expect(safeRegExp('(a+)+$').test(input)).toBe(false);
  });
});
