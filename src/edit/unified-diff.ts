/**
 * A unified diff (as `diff -u` prints it) of two texts, for dry-run and --diff output. Line-based
 * LCS: config files are small; above ~4M line pairs it falls back to one replace-all hunk.
 */
export function unifiedDiff(oldText: string, newText: string, options: { oldLabel?: string; newLabel?: string; context?: number } = {}): string {
  if (oldText === newText) return '';
  const context = options.context ?? 3;
  const a = splitLines(oldText);
  const b = splitLines(newText);
  const ops = diffLines(a, b);
  const header = `--- ${options.oldLabel ?? 'a'}\n+++ ${options.newLabel ?? 'b'}\n`;
  const hunks: string[] = [];
  // Group changes whose context windows touch into one hunk.
  let i = 0;
  while (i < ops.length) {
    if (ops[i]!.kind === ' ') {
      i++;
      continue;
    }
    let start = Math.max(0, i - context);
    let end = i;
    while (end < ops.length) {
      if (ops[end]!.kind !== ' ') {
        end++;
        continue;
      }
      let run = end;
      while (run < ops.length && ops[run]!.kind === ' ') run++;
      if (run === ops.length || run - end > 2 * context) {
        end = Math.min(ops.length, end + context);
        break;
      }
      end = run;
    }
    const slice = ops.slice(start, end);
    const first = slice[0]!;
    const oldCount = slice.filter((o) => o.kind !== '+').length;
    const newCount = slice.filter((o) => o.kind !== '-').length;
    const oldStart = oldCount === 0 ? first.oldLine - 1 : first.oldLine;
    const newStart = newCount === 0 ? first.newLine - 1 : first.newLine;
    hunks.push(
      `@@ -${oldStart},${oldCount} +${newStart},${newCount} @@\n` +
        slice.map((o) => `${o.kind}${o.text}\n${o.noNewline ? '\\ No newline at end of file\n' : ''}`).join(''),
    );
    i = end;
    start = end;
  }
  return header + hunks.join('');
}

interface Line {
  text: string;
  noNewline: boolean;
}

interface Op {
  kind: ' ' | '-' | '+';
  text: string;
  noNewline: boolean;
  /** 1-based line numbers where this op sits in the old and new file. */
  oldLine: number;
  newLine: number;
}

function splitLines(text: string): Line[] {
  if (text === '') return [];
  const parts = text.split('\n');
  const endsWithNewline = parts[parts.length - 1] === '';
  if (endsWithNewline) parts.pop();
  return parts.map((t, idx) => ({ text: t, noNewline: !endsWithNewline && idx === parts.length - 1 }));
}

function diffLines(a: Line[], b: Line[]): Op[] {
  const same = (x: Line, y: Line) => x.text === y.text && x.noNewline === y.noNewline;
  // Common prefix and suffix first: edits are usually a few lines in a long file.
  let pre = 0;
  while (pre < a.length && pre < b.length && same(a[pre]!, b[pre]!)) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && same(a[a.length - 1 - suf]!, b[b.length - 1 - suf]!)) suf++;
  const am = a.slice(pre, a.length - suf);
  const bm = b.slice(pre, b.length - suf);
  const middle: Array<{ kind: ' ' | '-' | '+'; line: Line }> = [];
  if (am.length * bm.length > 4_000_000) {
    am.forEach((line) => middle.push({ kind: '-', line }));
    bm.forEach((line) => middle.push({ kind: '+', line }));
  } else {
    const n = am.length;
    const m = bm.length;
    const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let x = n - 1; x >= 0; x--) {
      for (let y = m - 1; y >= 0; y--) {
        lcs[x]![y] = same(am[x]!, bm[y]!) ? lcs[x + 1]![y + 1]! + 1 : Math.max(lcs[x + 1]![y]!, lcs[x]![y + 1]!);
      }
    }
    let x = 0;
    let y = 0;
    while (x < n || y < m) {
      if (x < n && y < m && same(am[x]!, bm[y]!)) {
        middle.push({ kind: ' ', line: am[x]! });
        x++;
        y++;
      } else if (y < m && (x === n || lcs[x]![y + 1]! >= lcs[x + 1]![y]!)) {
        middle.push({ kind: '+', line: bm[y]! });
        y++;
      } else {
        middle.push({ kind: '-', line: am[x]! });
        x++;
      }
    }
    // Show removals before additions within a change block, as diff -u does.
    for (let s = 0; s < middle.length; ) {
      if (middle[s]!.kind === ' ') {
        s++;
        continue;
      }
      let e = s;
      while (e < middle.length && middle[e]!.kind !== ' ') e++;
      const block = middle.slice(s, e);
      middle.splice(s, e - s, ...block.filter((o) => o.kind === '-'), ...block.filter((o) => o.kind === '+'));
      s = e;
    }
  }
  const all = [
    ...a.slice(0, pre).map((line) => ({ kind: ' ' as const, line })),
    ...middle,
    ...a.slice(a.length - suf).map((line) => ({ kind: ' ' as const, line })),
  ];
  let oldLine = 1;
  let newLine = 1;
  return all.map(({ kind, line }) => {
    const op: Op = { kind, text: line.text, noNewline: line.noNewline, oldLine, newLine };
    if (kind !== '+') oldLine++;
    if (kind !== '-') newLine++;
    return op;
  });
}
