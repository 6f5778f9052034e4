import { shellQuote } from './shell.js';

/**
 * Quoting a template value by the shell context it sits in.
 *
 * A command line such as `echo "value={{ v }}"` puts the value inside double quotes: the single
 * quotes of plain shellQuote() are literal there, so `$(...)` in the value would run. This module
 * scans the command text around each value (the literal text the author wrote; values never change
 * the context, because each is quoted to be inert where it lands) and quotes the value for the
 * context it finds:
 *
 *   bare word, `$( ... )`   'value' (shellQuote)                      `echo {{ v }}`
 *   '...'                   ' closed, \' , reopened: a'\''b            `echo 'v={{ v }}'`
 *   "..."                   backslash before $ ` " \                    `echo "v={{ v }}"`
 *   <<EOF heredoc body      backslash before $ ` \                      `cat <<EOF\n{{ v }}\nEOF`
 *   <<'EOF' heredoc body    as is                                       `cat <<'EOF'\n{{ v }}\nEOF`
 *   # comment               as is                                       `true # {{ v }}`
 *   $(( ... )), (( ... ))   a whole number only, as is                  `$(( {{ days }} * 86400 ))`
 *   $[ ... ] (bash)         a whole number only, as is                  `echo $[ {{ days }} + 1 ]`
 *   [[ ... -lt ... ]], let  a whole number only, quoted                 `[[ {{ days }} -lt 30 ]]`
 *   name[ ... ] subscript   a whole number only, quoted                 `printf -v 'a[{{ i }}]' x`
 *
 * and refuses the contexts whose quoting rules are too irregular to get right (backticks,
 * `${...}`, `$((...))`, `$'...'`, right after a backslash, inside a heredoc delimiter), and values
 * that cannot be put anywhere safely: a NUL byte (a command line cannot hold one), a newline in a
 * comment, a line in a heredoc body that equals its delimiter (it would end the heredoc early).
 * Rules: POSIX.1-2017 Shell Command Language, 2.2 Quoting and 2.7.4 Here-Document; bash's own
 * arithmetic contexts (bash(1) ARITHMETIC EVALUATION: `(( ))`, `$[ ]`, `let`, the operands of `[[ ]]`'s
 * -eq/-ne/-lt/-le/-gt/-ge, and array subscripts are evaluated as expressions, so `a[$(cmd)]` runs
 * cmd even from inside quotes: a value there must be a whole number). A backslash-newline is removed before anything else
 * (2.2.1), so `\` + newline + `#` still starts a comment; so does a `#` right after `$(`.
 *
 * Not modelled (documented in docs/security.md): `case ... in x)` inside `$( )`, aliases, `eval`
 * and `sh -c` of a quoted string (the value is quoted once, for the outer shell), the index of a
 * compound array assignment (`a=([{{ v }}]=x)`), `declare -i`.
 */
export type QuotableContext = 'bare' | 'single' | 'double' | 'heredoc' | 'heredoc-literal' | 'comment' | 'arithmetic';

export type UnquotableContext = 'backtick' | 'parameter' | 'ansi-c' | 'escaped' | 'heredoc-delimiter';

/** A value's place in a command line: literal text the author wrote, or a value to quote. */
export type ShellPart = string | { value: string };

export interface ContextProblem {
  /** Index of the value part the problem is about. */
  part: number;
  context: QuotableContext | UnquotableContext;
  message: string;
}

const WHY: Record<UnquotableContext, string> = {
  backtick: 'inside `...` backticks, where quoting rules change with nesting; use $( ... ) instead',
  parameter: 'inside ${...}; put the value in a variable first (X={{ v }}; echo "${X:-...}") or outside the braces',
  'ansi-c': "inside $'...'; use '...' or \"...\" around it instead",
  escaped: 'right after a backslash; remove the backslash (the value is quoted for you)',
  'heredoc-delimiter': 'in a heredoc delimiter (<<{{ v }}); write the delimiter literally',
};

type Frame =
  | { kind: 'bare'; depth: number }
  // `outerWord`: the word the `$(` stands in, taken up again after its `)`.
  | { kind: 'subst'; depth: number; outerWord: string }
  // `$(( ))` and `(( ))` end at `))`; bash's old `$[ ]` at its `]`.
  | { kind: 'arith'; depth: number; close: '))' | ']' }
  | { kind: 'single' | 'double' | 'backtick' | 'param' | 'ansi' | 'comment' }
  | { kind: 'heredoc'; delimiter: string; literal: boolean; stripTabs: boolean; line: string; lineHasValue: boolean };

type Heredoc = { delimiter: string; literal: boolean; stripTabs: boolean };

const SLOT = Symbol('slot');
type Token = string | typeof SLOT;

const WORD_BREAK = new Set([' ', '\t', '\n', ';', '&', '|', '(', ')', '<', '>']);

/**
 * Joins literal parts and values into one command line, each value quoted for its context.
 * Throws ShellContextError (with every problem) when a value sits where it cannot be quoted, or
 * holds something its context cannot carry.
 */
export function joinShellParts(parts: readonly ShellPart[]): string {
  const { text, problems } = scanShellParts(parts, true);
  if (problems.length) throw new ShellContextError(problems);
  return text;
}

/**
 * The problems of a command line's value slots, by their place alone (no values yet): what
 * `kcarun validate` reports for a shell field. Each value part's `value` is ignored.
 */
export function shellSlotProblems(parts: readonly ShellPart[]): ContextProblem[] {
  return scanShellParts(parts, false).problems;
}

export class ShellContextError extends Error {
  override readonly name = 'ShellContextError';
  constructor(readonly problems: ContextProblem[]) {
    super(problems.map((p) => p.message).join('; '));
  }
}

function scanShellParts(parts: readonly ShellPart[], withValues: boolean): { text: string; problems: ContextProblem[] } {
  const tokens: Token[] = [];
  const values: string[] = [];
  for (const part of parts) {
    if (typeof part === 'string') for (const ch of part) tokens.push(ch);
    else {
      tokens.push(SLOT);
      values.push(part.value);
    }
  }
  const problems: ContextProblem[] = [];
  const out: string[] = [];
  const stack: Frame[] = [{ kind: 'bare', depth: 0 }];
  const pending: Heredoc[] = [];
  let slotIndex = -1;
  // Start of a word: a `#` there starts a comment.
  let wordStart = true;
  // bash evaluates as arithmetic the operands of `[[ ]]` with -lt & co. and the words after `let`:
  // until the `]]` / the end of that command, values must be whole numbers (bash(1) CONDITIONAL
  // EXPRESSIONS, `let`). The frame depth they belong to, or -1.
  let arithmeticWords = -1;
  let arithmeticUntil: ']]' | 'end' | undefined;
  // The shell word being read, as written (quotes kept, a value as `0`; heredoc bodies and comments
  // are not words): a value inside its `name[...]` is in an array subscript (see inArraySubscript).
  let word = '';
  const top = () => stack[stack.length - 1]!;
  const at = (i: number) => tokens[i];

  const fail = (context: QuotableContext | UnquotableContext, message: string) => problems.push({ part: partIndex(parts, slotIndex), context, message });
  /**
   * A `$` at `i` where it expands (a bare word, `$( )`, "...", an unquoted heredoc body): opens the
   * frame it starts (openDollar). Returns the index of the last token consumed, and whether the next
   * token starts a word: only after `$(`, where a command begins (so `$(#...` starts a comment).
   */
  const expandDollar = (i: number, inDouble: boolean): { end: number; wordStart: boolean } => {
    const depth = stack.length;
    const end = openDollar(tokens, i, stack, out, inDouble, word);
    const opensCommand = stack.length > depth && top().kind === 'subst';
    // A command begins inside `$(`: a word of its own. Other expansions stay part of this word.
    word = opensCommand ? '' : `${word}$`;
    return { end, wordStart: opensCommand };
  };

  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const frame = top();

    if (t === SLOT) {
      slotIndex++;
      const value = values[slotIndex] ?? '';
      const blocked = stack.find((f) => f.kind === 'backtick' || f.kind === 'param' || f.kind === 'ansi');
      if (blocked) {
        const ctx = ({ backtick: 'backtick', param: 'parameter', ansi: 'ansi-c' } as const)[blocked.kind as 'backtick'];
        fail(ctx, `a value ${WHY[ctx]}`);
        continue;
      }
      if (frame.kind === 'arith' && withValues && !/^-?[0-9]+$/.test(value)) {
        fail('arithmetic', `a value inside $(( ... )), (( ... )) or $[ ... ] must be a whole number, not ${JSON.stringify(value.slice(0, 40))}`);
        continue;
      }
      if (frame.kind !== 'heredoc' && frame.kind !== 'comment' && inArraySubscript(word) && withValues && !/^-?[0-9]+$/.test(value)) {
        fail(
          'arithmetic',
          `a value inside an array subscript (name[...]: an assignment, or a name given to printf -v, declare, [[ -v ]]...) is evaluated by bash as arithmetic even when quoted (a[$(...)] would run): it must be a whole number, not ${JSON.stringify(value.slice(0, 40))}`,
        );
        continue;
      }
      if (arithmeticWords >= 0 && withValues && !/^-?[0-9]+$/.test(value)) {
        fail('arithmetic', `a value compared with -eq/-ne/-lt/-le/-gt/-ge inside [[ ]], or after let, is evaluated by bash as arithmetic (a[$(...)] would run): it must be a whole number, not ${JSON.stringify(value.slice(0, 40))}`);
        continue;
      }
      if (withValues && value.includes('\0')) {
        fail(contextOf(frame), 'a value holds a NUL byte, which no command line can carry');
        continue;
      }
      const quoted = quoteFor(frame, value);
      if (frame.kind === 'heredoc' && frame.stripTabs && withValues && (/\n\t/.test(value) || (/^\t*$/.test(frame.line) && value.startsWith('\t')))) {
        // <<- strips the tabs that begin each line: the value would arrive without them.
        fail('heredoc', 'a value with a tab at the start of a line would lose it in a <<- heredoc; use <<EOF');
        continue;
      }
      if (frame.kind === 'heredoc') {
        frame.line += quoted;
        frame.lineHasValue = true;
        const lines = frame.line.split('\n');
        frame.line = lines.pop()!;
        if (withValues && lines.some((l) => endsHeredoc(frame, l))) fail('heredoc', `a value holds the line "${frame.delimiter}", which would end the heredoc early`);
        else if (withValues && [...lines, frame.line].some((l) => dashMangles(frame, l)))
          fail('heredoc', `a value has a line that starts like the delimiter "${frame.delimiter}" followed by a non-ASCII character, which dash (Debian's /bin/sh) corrupts in a heredoc; pass the value in a variable or a file instead`);
      } else if (frame.kind === 'comment' && withValues && value.includes('\n')) {
        fail('comment', 'a value with a newline in a # comment would end the comment; move it out of the comment');
        continue;
      }
      out.push(quoted);
      if (frame.kind !== 'heredoc' && frame.kind !== 'comment') word += '0';
      wordStart = false;
      continue;
    }

    out.push(t);
    const next = at(i + 1);
    switch (frame.kind) {
      case 'bare':
      case 'subst': {
        if (t === '\\') {
          if (next === SLOT) {
            slotIndex++;
            fail('escaped', `a value ${WHY.escaped}`);
            i++;
            continue;
          }
          if (next !== undefined) out.push(next);
          i++;
          // A backslash-newline is removed before the line is read (2.2.1): the word state is as before it.
          if (next !== '\n') {
            wordStart = false;
            word += `\\${next ?? ''}`;
          }
          continue;
        }
        if (wordStart && arithmeticWords < 0) {
          arithmeticUntil = startsArithmeticWords(tokens, i);
          if (arithmeticUntil) arithmeticWords = stack.length;
        } else if (arithmeticWords === stack.length) {
          // `[[ ]]` ends at its `]]` (its && and || are inside it); `let` at the end of its command.
          const ends = arithmeticUntil === ']]' ? t === ']' && next === ']' : t === '\n' || t === ';' || t === '&' || t === '|';
          if (ends) arithmeticWords = -1;
        }
        if (t === "'") stack.push({ kind: 'single' });
        else if (t === '"') stack.push({ kind: 'double' });
        else if (t === '`') stack.push({ kind: 'backtick' });
        else if (t === '$') {
          ({ end: i, wordStart } = expandDollar(i, false));
          continue;
        } else if (t === '(' && next === '(' && wordStart) {
          // `(( expr ))`: bash's arithmetic command, evaluated like $(( )).
          out.push('(');
          stack.push({ kind: 'arith', depth: 0, close: '))' });
          i++;
          continue;
        } else if (t === '#' && wordStart) stack.push({ kind: 'comment' });
        else if (t === '(' && frame.kind === 'subst') frame.depth++;
        else if (t === ')' && frame.kind === 'subst') {
          if (frame.depth === 0) {
            stack.pop();
            // `a[$(...)...`: the word the substitution stands in goes on.
            word = `${frame.outerWord}$()`;
            wordStart = false;
            continue;
          }
          frame.depth--;
        } else if (t === '<' && next === '<') {
          if (at(i + 2) === '<') {
            // A here-string (<<<): an ordinary word follows.
            out.push('<', '<');
            i += 2;
          } else {
            const parsed = readHeredocStart(tokens, i + 2);
            out.push('<', ...parsed.text);
            i = parsed.end - 1;
            if (parsed.slot) {
              slotIndex++;
              fail('heredoc-delimiter', `a value ${WHY['heredoc-delimiter']}`);
            } else pending.push(parsed.heredoc);
          }
        } else if (t === '\n' && pending.length) {
          const h = pending.shift()!;
          stack.push({ kind: 'heredoc', ...h, line: '', lineHasValue: false });
        }
        wordStart = WORD_BREAK.has(t);
        word = wordStart ? '' : word + t;
        continue;
      }
      case 'single':
        word += t;
        if (t === "'") stack.pop();
        break;
      case 'double':
        // A `$` is added by expandDollar.
        if (t !== '$') word += t;
        if (t === '\\') {
          if (next === SLOT) {
            slotIndex++;
            fail('escaped', `a value ${WHY.escaped}`);
          } else if (next !== undefined) {
            out.push(next);
            word += next;
          }
          i++;
        } else if (t === '"') stack.pop();
        else if (t === '`') stack.push({ kind: 'backtick' });
        else if (t === '$') {
          ({ end: i, wordStart } = expandDollar(i, true));
          continue;
        }
        break;
      case 'backtick':
        if (t === '\\' && next !== undefined && next !== SLOT) {
          out.push(next);
          i++;
        } else if (t === '`') stack.pop();
        break;
      case 'param':
        if (t === '}') stack.pop();
        break;
      case 'arith':
        if (frame.close === ']') {
          // `$[ ]`: its own brackets nest (`$[ a[1] + 2 ]`).
          if (t === '[') frame.depth++;
          else if (t === ']' && frame.depth > 0) frame.depth--;
          else if (t === ']') stack.pop();
        } else if (t === '(') frame.depth++;
        else if (t === ')' && frame.depth > 0) frame.depth--;
        else if (t === ')' && next === ')') {
          out.push(')');
          i++;
          stack.pop();
        }
        break;
      case 'ansi':
        if (t === '\\' && next !== undefined && next !== SLOT) {
          out.push(next);
          i++;
        } else if (t === "'") stack.pop();
        break;
      case 'comment':
        if (t === '\n') {
          stack.pop();
          wordStart = true;
          word = '';
          // A heredoc started on the commented line still begins here.
          if (pending.length) stack.push({ kind: 'heredoc', ...pending.shift()!, line: '', lineHasValue: false });
          continue;
        }
        break;
      case 'heredoc': {
        if (t === '\n') {
          if (endsHeredoc(frame, frame.line)) {
            if (frame.lineHasValue && withValues) fail('heredoc', `a value completes the line "${frame.delimiter}", which would end the heredoc early`);
            stack.pop();
            // The next command's first word starts on the next line.
            word = '';
            if (pending.length) stack.push({ kind: 'heredoc', ...pending.shift()!, line: '', lineHasValue: false });
          } else {
            frame.line = '';
            frame.lineHasValue = false;
          }
          continue;
        }
        frame.line += t;
        if (!frame.literal) {
          if (t === '\\') {
            if (next === SLOT) {
              slotIndex++;
              fail('escaped', `a value ${WHY.escaped}`);
            } else if (next !== undefined) {
              out.push(next);
              frame.line += next;
            }
            i++;
          } else if (t === '`') stack.push({ kind: 'backtick' });
          else if (t === '$') {
            ({ end: i, wordStart } = expandDollar(i, true));
            continue;
          }
        }
        break;
      }
    }
    wordStart = false;
  }
  // A heredoc whose terminator never came: its last line may still be the one that ends it.
  return { text: out.join(''), problems };
}

const ARITHMETIC_TEST = /^\[\[[\s\S]*?\s-(eq|ne|lt|le|gt|ge)\s[\s\S]*?\]\]/;

/**
 * Whether the word at `i` starts bash arithmetic operands: `[[ ... ]]` holding -eq/-ne/-lt/-le/-gt/-ge
 * (bash evaluates both operands as expressions), or `let`: what ends them (`]]`, or the end of
 * the command), or undefined. Looks at the literal text up to the `]]` (a value slot counts as a word).
 */
function startsArithmeticWords(tokens: Token[], i: number): ']]' | 'end' | undefined {
  if (tokens[i] === 'l' && tokens[i + 1] === 'e' && tokens[i + 2] === 't' && (tokens[i + 3] === ' ' || tokens[i + 3] === '\t')) return 'end';
  if (tokens[i] !== '[' || tokens[i + 1] !== '[') return undefined;
  let text = '';
  for (let k = i; k < tokens.length && text.length < 4096; k++) {
    const t = tokens[k]!;
    text += t === SLOT ? 'x' : t;
    if (text.endsWith(']]')) break;
  }
  return ARITHMETIC_TEST.test(text) ? ']]' : undefined;
}

/**
 * Whether a value at the end of `word` (as written so far, quotes kept) is inside the subscript of
 * `name[...]`. bash evaluates an indexed array's subscript as arithmetic wherever a word names an
 * array element: an assignment (`a[i]=x`), and the names printf -v, declare, local, read, unset,
 * [[ -v ]] and test -v take, after quote removal, so `printf -v 'a[{{ v }}]'` evaluates the value
 * although it is quoted (bash(1) Arrays; an associative array's key is not arithmetic, but which
 * kind `a` is cannot be told from the command line: both are held to whole numbers). A value
 * after the closing `]` (`a[1]={{ v }}`) is an ordinary word.
 */
function inArraySubscript(word: string): boolean {
  const unquoted = word.replace(/['"]/g, '');
  const name = /^[A-Za-z_][A-Za-z0-9_]*\[/.exec(unquoted);
  if (!name) return false;
  let depth = 1;
  for (const c of unquoted.slice(name[0].length)) {
    if (c === '[') depth++;
    else if (c === ']' && --depth === 0) return false;
  }
  return true;
}

/**
 * After a `$` at `i`: pushes the frame it opens, returns the index of the last token consumed.
 * `word`: the shell word the `$` is in, taken up again after a `$( )`.
 */
function openDollar(tokens: Token[], i: number, stack: Frame[], out: string[], inDouble: boolean, word: string): number {
  const next = tokens[i + 1];
  if (next === '(') {
    if (tokens[i + 2] === '(') {
      out.push('(', '(');
      stack.push({ kind: 'arith', depth: 0, close: '))' });
      return i + 2;
    }
    out.push('(');
    stack.push({ kind: 'subst', depth: 0, outerWord: word });
    return i + 1;
  }
  if (next === '[') {
    // bash's old arithmetic expansion (bash(1): "$[expression]", deprecated, still evaluated).
    out.push('[');
    stack.push({ kind: 'arith', depth: 0, close: ']' });
    return i + 1;
  }
  if (next === '{') {
    out.push('{');
    stack.push({ kind: 'param' });
    return i + 1;
  }
  if (next === "'" && !inDouble) {
    out.push("'");
    stack.push({ kind: 'ansi' });
    return i + 1;
  }
  return i;
}

/** `<<[-] WORD`: the delimiter (quotes removed; any quoting makes the body literal). */
function readHeredocStart(tokens: Token[], start: number): { heredoc: Heredoc; text: string[]; end: number; slot: boolean } {
  const text: string[] = [];
  let i = start;
  let stripTabs = false;
  if (tokens[i] === '-') {
    stripTabs = true;
    text.push('-');
    i++;
  }
  while (tokens[i] === ' ' || tokens[i] === '\t') text.push(tokens[i++] as string);
  let delimiter = '';
  let literal = false;
  let quote: string | undefined;
  for (; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === SLOT) return { heredoc: { delimiter, literal, stripTabs }, text, end: i + 1, slot: true };
    if (quote) {
      text.push(t);
      if (t === quote) quote = undefined;
      else delimiter += t;
      continue;
    }
    if (WORD_BREAK.has(t)) break;
    text.push(t);
    if (t === "'" || t === '"') {
      quote = t;
      literal = true;
    } else if (t === '\\') {
      literal = true;
    } else delimiter += t;
  }
  return { heredoc: { delimiter, literal, stripTabs }, text, end: i, slot: false };
}

function endsHeredoc(frame: Extract<Frame, { kind: 'heredoc' }>, line: string): boolean {
  return (frame.stripTabs ? line.replace(/^\t+/, '') : line) === frame.delimiter;
}

/**
 * dash 0.5.12 (Debian's /bin/sh) drops the first byte of a multibyte character that follows a heredoc
 * line's match of a prefix of the delimiter ("Eé" under <<EOF arrives as "E\xa9"): found by the
 * shell-context property test (issue 13). Not an injection, but a value that does not arrive intact.
 */
function dashMangles(frame: Extract<Frame, { kind: 'heredoc' }>, line: string): boolean {
  const l = frame.stripTabs ? line.replace(/^\t+/, '') : line;
  for (let k = 1; k <= frame.delimiter.length && k < l.length; k++) {
    if (l[k - 1] !== frame.delimiter[k - 1]) return false;
    if (l.charCodeAt(k) >= 0x80) return true;
  }
  return false;
}

function contextOf(frame: Frame): QuotableContext {
  switch (frame.kind) {
    case 'single':
    case 'double':
    case 'comment':
      return frame.kind;
    case 'arith':
      return 'arithmetic';
    case 'heredoc':
      return frame.literal ? 'heredoc-literal' : 'heredoc';
    default:
      return 'bare';
  }
}

/** The value as text that reads back as exactly the value in that context. */
function quoteFor(frame: Frame, value: string): string {
  switch (contextOf(frame)) {
    case 'bare':
      return shellQuote(value);
    case 'single':
      return value.replace(/'/g, `'\\''`);
    case 'double':
      return value.replace(/[$`"\\]/g, '\\$&');
    case 'heredoc':
      return value.replace(/[$`\\]/g, '\\$&');
    case 'heredoc-literal':
    case 'comment':
    case 'arithmetic':
      return value;
  }
}

function partIndex(parts: readonly ShellPart[], slot: number): number {
  let seen = -1;
  for (const [i, p] of parts.entries()) {
    if (typeof p !== 'string' && ++seen === slot) return i;
  }
  return -1;
}
