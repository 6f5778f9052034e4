import { FILE_HEADERS_ONLY, createTwoFilesPatch } from 'diff';

/**
 * A unified diff (as `diff -u` prints it) of two texts, for dry-run and --diff output, made by the
 * `diff` package (jsdiff). Only the `---`/`+++` lines head it (no `Index:`/`===` lines), so
 * patch(1) applies it as it is; a missing final newline is marked `\ No newline at end of file`.
 * Returns '' when the texts are equal.
 */
export function unifiedDiff(oldText: string, newText: string, options: { oldLabel?: string; newLabel?: string; context?: number } = {}): string {
  if (oldText === newText) return '';
  return createTwoFilesPatch(options.oldLabel ?? 'a', options.newLabel ?? 'b', oldText, newText, undefined, undefined, {
    context: options.context ?? 3,
    headerOptions: FILE_HEADERS_ONLY,
  });
}
