import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const depcruise = join(root, 'node_modules', '.bin', 'depcruise');
const eslint = join(root, 'node_modules', '.bin', 'eslint');

/** Runs the architecture rules of `npm run lint` on src/ plus the given throwaway files. */
async function cruise(extra: Record<string, string>): Promise<{ code: number; out: string }> {
  return withFiles(extra, depcruise, ['src', '--config', '.dependency-cruiser.cjs', '--output-type', 'err']);
}

/** Runs the `process` rule of `npm run lint` (eslint.config.js) on src/ plus the given throwaway files. */
async function lintProcess(extra: Record<string, string>): Promise<{ code: number; out: string }> {
  return withFiles(extra, eslint, ['src']);
}

async function withFiles(extra: Record<string, string>, tool: string, args: string[]): Promise<{ code: number; out: string }> {
  const written: string[] = [];
  try {
    for (const [rel, text] of Object.entries(extra)) {
      const path = join(root, rel);
      await writeFile(path, text);
      written.push(path);
    }
    const { stdout } = await run(tool, args, { cwd: root });
    return { code: 0, out: stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string };
    return { code: e.code ?? -1, out: e.stdout ?? '' };
  } finally {
    for (const p of written) await rm(p, { force: true });
  }
}

// These write throwaway files into src/ for one cruise each, so they must not run side by side.
describe.sequential('architecture rules (npm run lint)', () => {
  it('pass on the tree as it is', async () => {
    const r = await cruise({});
    expect(r.out).toMatch(/no dependency violations found/);
    expect(r.code).toBe(0);
  });

  it('fail when core imports anything of ours', async () => {
    const r = await cruise({ 'src/core/zz-lint-probe.ts': "import { taskTypes } from '../tasks/index.js';\nexport const n = taskTypes.size;\n" });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/core-layer: src\/core\/zz-lint-probe\.ts → src\/tasks\/index\.ts/);
  });

  it('fail when a lower layer imports a higher one (transport -> engine)', async () => {
    const r = await cruise({ 'src/transport/zz-lint-probe.ts': "export { openStateDir } from '../engine/state-dir.js';\n" });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/transport-layer: src\/transport\/zz-lint-probe\.ts → src\/engine\/state-dir\.ts/);
  });

  it('fail when discover (read-only discovery) reaches for the engine', async () => {
    const r = await cruise({ 'src/discover/zz-lint-probe.ts': "export { openStateDir } from '../engine/state-dir.js';\n" });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/discover-layer: src\/discover\/zz-lint-probe\.ts → src\/engine\/state-dir\.ts/);
  });

  it('fail on an import cycle inside one folder', async () => {
    const r = await cruise({
      'src/edit/zz-a.ts': "import { b } from './zz-b.js';\nexport const a = (): number => b() + 1;\n",
      'src/edit/zz-b.ts': "import { a } from './zz-a.js';\nexport const b = (): number => a() - 1;\n",
    });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/no-circular: src\/edit\/zz-[ab]\.ts →\s+src\/edit\/zz-[ab]\.ts/);
  });

  it('fail when src/pki/ reads files (it is bytes in, bytes out)', async () => {
    const r = await cruise({ 'src/pki/zz-lint-probe.ts': "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n" });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/pki-is-pure: src\/pki\/zz-lint-probe\.ts → (node:)?fs/);
  });

  it('pass the process rule on the tree as it is (src/cli.ts alone touches process)', async () => {
    const r = await lintProcess({});
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });

  it('fail when anything below src/cli.ts reads process, by global, globalThis or import, even with a disable comment', async () => {
    const r = await lintProcess({
      'src/engine/zz-lint-probe.ts': [
        'export const env = process.env.HOME;',
        'export const pid = globalThis.process.pid;',
        "import p from 'node:process';",
        'export const cwd = p.cwd();',
        '// eslint-disable-next-line no-restricted-globals',
        'export const argv = process.argv;',
        '',
      ].join('\n'),
    });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/zz-lint-probe\.ts/);
    expect(r.out).toMatch(/1:\d+\s+error\s+Unexpected use of 'process'\. only src\/cli\.ts touches process/);
    expect(r.out).toMatch(/2:\d+\s+error\s+'globalThis\.process' is restricted/);
    expect(r.out).toMatch(/3:\d+\s+error\s+'node:process' import is restricted/);
    expect(r.out).toMatch(/6:\d+\s+error\s+Unexpected use of 'process'/);
  });
});
