import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { renderValue, shellTemplateProblems } from '../../src/formats/template.js';
import { localExecTask } from '../../src/tasks/local-exec/index.js';

/*
 * Issue 13, item 1: a template value in a shell field is quoted for the context it sits in. Random
 * strings made of every shell metacharacter (and attempts to run `touch MARKER`) are put into every
 * context a command can give them, run through a real `sh -c`, and: the marker never appears, and
 * the value arrives byte for byte where the context can carry it.
 */
const dir = mkdtempSync(join(tmpdir(), 'kcarun-shell-ctx-'));
const marker = join(dir, 'pwned');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const META = [...`'"\`$\\;&|<>(){}[]*?!#~=%^ \t\n`, '$(', '${', '$((', "$'", '\\\n', 'EOF', '\nEOF\n', '*/'];
const ATTACKS = [
  `$(touch ${marker})`,
  `\`touch ${marker}\``,
  `'; touch ${marker}; '`,
  `"; touch ${marker}; "`,
  `\ntouch ${marker}\n`,
  `\nEOF\ntouch ${marker}\ncat <<EOF\n`,
  `\nEND\ntouch ${marker}\n`,
  `'$(touch ${marker})'`,
  `"$(touch ${marker})"`,
  `\\"; touch ${marker} #`,
  `\\'; touch ${marker} #`,
];
const hostile = fc.array(fc.oneof(fc.constantFrom(...META), fc.constantFrom(...ATTACKS), fc.string({ maxLength: 4 }), fc.constantFrom('a', 'Z', '0', 'é', '✓')), { maxLength: 12 }).map((xs) => xs.join('').replace(/\0/g, ''));

/** Each context a command line can give a value, and what printf must print when it arrives intact. */
const CONTEXTS: { name: string; command: string; expected: (v: string) => string }[] = [
  { name: 'bare', command: "printf '[%s]' {{ v }}", expected: (v) => `[${v}]` },
  { name: 'bare inside a word', command: 'printf %s x={{ v }}', expected: (v) => `x=${v}` },
  { name: 'single quotes', command: "printf %s 'v={{ v }}.'", expected: (v) => `v=${v}.` },
  { name: 'double quotes', command: 'printf %s "v={{ v }}."', expected: (v) => `v=${v}.` },
  { name: 'double quotes twice', command: 'printf %s "{{ v }}" "-{{ v }}"', expected: (v) => `${v}-${v}` },
  { name: 'command substitution in double quotes', command: 'printf %s "$(printf %s {{ v }})"', expected: (v) => v.replace(/\n+$/, '') },
  { name: 'single quotes inside $( ) inside double quotes', command: `printf %s "$(printf %s '{{ v }}')"`, expected: (v) => v.replace(/\n+$/, '') },
  { name: 'heredoc', command: 'cat <<EOF\n{{ v }}\nEOF', expected: (v) => `${v}\n` },
  { name: 'heredoc, line prefix', command: 'cat <<EOF\nv={{ v }}\nEOF', expected: (v) => `v=${v}\n` },
  { name: 'quoted heredoc', command: "cat <<'END'\n{{ v }}\nEND", expected: (v) => `${v}\n` },
  { name: 'heredoc with tabs', command: 'cat <<-EOF\n\t{{ v }}\n\tEOF', expected: (v) => `${v}\n` },
  { name: 'comment', command: 'printf ok # {{ v }}', expected: () => 'ok' },
  { name: 'arithmetic (whole numbers only)', command: 'printf %s $(( {{ v }} + 0 ))', expected: (v) => String(Number(v)) },
  { name: 'assignment', command: 'X={{ v }}; printf %s "$X"', expected: (v) => v },
  // Found by a hostile-input review (session 12): `#` right after `$(`, and after a backslash-newline, starts a comment.
  { name: 'comment right after $(', command: 'printf ok$(#{{ v }}\n)', expected: () => 'ok' },
  { name: 'comment after a backslash-newline', command: 'printf ok \\\n#{{ v }}\n', expected: () => 'ok' },
];

function render(command: string, v: string): { command: string } | { error: string } {
  try {
    return renderValue({ command }, { v }, localExecTask.schema) as { command: string };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function renderN(command: string, n: string): { command: string } | { error: string } {
  try {
    return renderValue({ command }, { n }, localExecTask.schema) as { command: string };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function sh(command: string): string {
  return execFileSync('/bin/sh', ['-c', command], { encoding: 'utf8', cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('shell fields quote a value for the context it sits in (issue 13.1)', () => {
  for (const ctx of CONTEXTS) {
    it(`${ctx.name}: no value runs a command, and a value that can be carried arrives intact`, () => {
      fc.assert(
        fc.property(hostile, (v) => {
          const r = render(ctx.command, v);
          if ('error' in r) {
            // Refused only for what the context cannot carry (a heredoc's own delimiter line, a newline in a comment).
            expect(r.error).toMatch(/heredoc early|comment|whole number|<<- heredoc|corrupts in a heredoc/);
            return;
          }
          let out: string;
          try {
            out = sh(r.command);
          } finally {
            expect(existsSync(marker), `ran: ${JSON.stringify(r.command)}`).toBe(false);
          }
          expect(out).toBe(ctx.expected(v));
        }),
        { numRuns: 80 },
      );
    });
  }

  it('the issue case: "value={{ v }}" inside double quotes with $(touch) and backticks', () => {
    for (const v of [`$(touch ${marker})`, `\`touch ${marker}\``]) {
      const r = render('echo "value={{ v }}"', v) as { command: string };
      expect(sh(r.command)).toBe(`value=${v}\n`);
      expect(existsSync(marker)).toBe(false);
    }
  });

  it('refuses a value dash would corrupt in a heredoc (the property test\'s counterexample: a line "Eé" under <<EOF)', () => {
    // dash 0.5.12 prints "E\xa9" for that line: the value would not arrive intact, so it is refused.
    const v = `"\nEND\ntouch ${marker}\nEé`;
    expect(render('cat <<EOF\nv={{ v }}\nEOF', v)).toEqual({ error: expect.stringMatching(/starts like the delimiter "EOF".*corrupts in a heredoc/) });
    // The same characters elsewhere in a line arrive intact, and run nothing.
    const ok = render('cat <<EOF\nv={{ v }}\nEOF', `"\nEND\ntouch ${marker}\nXé`) as { command: string };
    expect(sh(ok.command)).toBe(`v="\nEND\ntouch ${marker}\nXé\n`);
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses a value whose line would end the heredoc it is in', () => {
    expect(render('cat <<EOF\n{{ v }}\nEOF', `x\nEOF\ntouch ${marker}`)).toEqual({ error: expect.stringMatching(/holds the line "EOF", which would end the heredoc early/) });
    expect(render('cat <<EOF\n{{ v }}OF\nEOF', 'E')).toEqual({ error: expect.stringMatching(/completes the line "EOF"/) });
  });

  it("bash's arithmetic contexts take whole numbers only: [[ -lt ]], (( )), let (a quoted a[$(cmd)] runs cmd there)", () => {
    const bash = (command: string): string => execFileSync('/bin/bash', ['-c', command], { encoding: 'utf8', cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const attack = `a[$(touch ${marker})]`;
    for (const command of ['[[ {{ n }} -lt 30 ]] && echo lt', '(( {{ n }} < 30 )) && echo lt', 'let x={{ n }}+1; [ "$x" -lt 31 ] && echo lt', 'echo "$(  [[ 1 -eq 1 && {{ n }} -lt 30 ]] && echo lt)"']) {
      expect(renderN(command, attack), command).toEqual({ error: expect.stringMatching(/whole number/) });
      const ok = renderN(command, '29') as { command: string };
      expect(bash(ok.command).trim(), ok.command).toBe('lt');
    }
    expect(existsSync(marker)).toBe(false);
    // A string comparison inside [[ ]] is not arithmetic: any value, quoted.
    const str = renderN('[[ {{ n }} == x ]] || echo differs', attack) as { command: string };
    expect(bash(str.command).trim()).toBe('differs');
    expect(existsSync(marker)).toBe(false);
  });

  it("bash's $[ ] and array subscripts are arithmetic too: whole numbers only, even where the value is quoted", () => {
    const bash = (command: string): string => execFileSync('/bin/bash', ['-c', command], { encoding: 'utf8', cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const attack = `$(touch ${marker})`;
    // Each of these runs the attack in bash 5 when the value is only quoted for its quotes.
    const cases: [string, string][] = [
      ['echo $[ {{ n }} + 1 ]', '30'],
      ['echo "$[ {{ n }} + 1 ]"', '30'],
      ['cat <<EOF\n$[ {{ n }} + 1 ]\nEOF', '30'],
      ['echo $[ a[1] + {{ n }} + 1 ]', '30'],
      ["a[{{ n }}]=x; echo ${a[29]}", 'x'],
      ['a["{{ n }}"]=x; echo ${a[29]}', 'x'],
      ['a[1+{{ n }}]=x; echo ${a[30]}', 'x'],
      ["printf -v 'a[{{ n }}]' %s x; echo ${a[29]}", 'x'],
      ['declare "a[{{ n }}]=x"; echo ${a[29]}', 'x'],
      ["a[29]=x; [[ -v 'a[{{ n }}]' ]] && echo set", 'set'],
      ['x="$(a[{{ n }}]=x; echo ${a[29]})"; echo $x', 'x'],
    ];
    for (const [command, expected] of cases) {
      expect(renderN(command, attack), command).toEqual({ error: expect.stringMatching(/whole number/) });
      const ok = renderN(command, '29') as { command: string };
      expect(bash(ok.command).trim(), ok.command).toBe(expected);
    }
    expect(existsSync(marker)).toBe(false);
    // ${a[...]} is refused whatever the value (inside ${...}).
    expect(shellTemplateProblems('echo ${a[{{ n }}]}')).toEqual([expect.stringMatching(/inside \$\{\.\.\.\}/)]);
    // Not a subscript: a value after the closing ], in a word not starting with a name, or beside a [ ] test.
    for (const [command, expected] of [
      ['a[1]={{ n }}; echo ${a[1]}', attack],
      ['echo -[{{ n }}]', `-[${attack}]`],
      ['[ {{ n }} = 1 ] || echo differs', 'differs'],
    ] as const) {
      const r = renderN(command, attack) as { command: string };
      expect(bash(r.command).trim(), command).toBe(expected);
    }
    expect(existsSync(marker)).toBe(false);
    // Which command takes the word is not modelled: a name[ word is held to whole numbers everywhere.
    expect(renderN('echo x[{{ n }}]', attack)).toEqual({ error: expect.stringMatching(/array subscript .*whole number/) });
  });

  it("bash's arithmetic contexts, property: no value runs a command; one that is not refused is a whole number", () => {
    const bash = (command: string): string => execFileSync('/bin/bash', ['-c', command], { encoding: 'utf8', cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const commands = ['echo $[ {{ v }} ]', 'echo "$[{{ v }}]"', 'a[{{ v }}]=1', "unset 'a[{{ v }}]'", "printf -v 'b[{{ v }}]' x", "[[ -v 'a[{{ v }}]' ]]", 'declare "a[{{ v }}]=1"'];
    fc.assert(
      fc.property(fc.constantFrom(...commands), hostile, (command, v) => {
        const r = render(command, v);
        if ('error' in r) {
          expect(r.error).toMatch(/whole number/);
          return;
        }
        expect(v).toMatch(/^-?[0-9]+$/);
        try {
          bash(r.command);
        } catch {
          // A failing command is fine (an out-of-range subscript); running the marker is not.
        } finally {
          expect(existsSync(marker), `ran: ${JSON.stringify(r.command)}`).toBe(false);
        }
      }),
      { numRuns: 120 },
    );
  });

  it('a list handed to `for` as `| shell_words | raw` stays one word per element (the stock playbooks\' backup_paths, trust_files_to_check)', () => {
    const l = ['/etc/a b', `/x;touch ${marker};`, `$(touch ${marker})`, "it's"];
    const r = renderValue({ command: "for f in {{ l | shell_words | raw }}; do printf '[%s]' \"$f\"; done" }, { l }, localExecTask.schema) as { command: string };
    expect(sh(r.command)).toBe(l.map((x) => `[${x}]`).join(''));
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses a NUL byte, which no command line can carry', () => {
    expect(render('printf %s {{ v }}', 'a\0b')).toEqual({ error: expect.stringMatching(/NUL byte/) });
  });

  it('validate names the templates in contexts it cannot quote, with the fix', () => {
    expect(shellTemplateProblems('echo `cat {{ f }}`')).toEqual([expect.stringMatching(/^\{\{ f \}\}: inside `...` backticks.*use \$\( \.\.\. \) instead/)]);
    expect(shellTemplateProblems('echo ${X:-{{ f }}}')).toEqual([expect.stringMatching(/inside \$\{\.\.\.\}/)]);
    // Arithmetic takes whole numbers only (checked when the value is known).
    expect(shellTemplateProblems('echo $(( {{ n }} + 1 ))')).toEqual([]);
    expect(renderN('echo $(( {{ n }} + 1 ))', '1)); touch x; ((1')).toEqual({ error: expect.stringMatching(/must be a whole number/) });
    expect(shellTemplateProblems("echo $'{{ f }}'")).toEqual([expect.stringMatching(/inside \$'\.\.\.'/)]);
    expect(shellTemplateProblems('echo \\{{ f }}')).toEqual([expect.stringMatching(/right after a backslash/)]);
    expect(shellTemplateProblems('cat <<{{ d }}\nx\n')).toEqual([expect.stringMatching(/heredoc delimiter/)]);
    // {% capture %} would carry the quoting markers, not the value (hostile-input review): refused, and at run time too.
    expect(shellTemplateProblems('{% capture f %}/tmp/{{ x }}{% endcapture %}echo {{ f }}')).toEqual([expect.stringMatching(/^\{% capture %\}: not in a shell field/)]);
    expect(render('{% capture f %}/tmp/{{ v }}{% endcapture %}echo {{ f }}', 'x')).toEqual({ error: expect.stringMatching(/capture %\} cannot be used in a shell field/) });
    // Quotable contexts and raw values pass.
    expect(shellTemplateProblems('echo "{{ a }}" \'{{ b }}\' {{ c }} $(echo {{ d }}) `echo {{ e | raw }}`')).toEqual([]);
  });
});
