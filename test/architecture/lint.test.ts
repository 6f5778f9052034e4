import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const depcruise = join(root, 'node_modules', '.bin', 'depcruise');

/** Runs the architecture rules of `npm run lint` on src/ plus the given throwaway files. */
async function cruise(extra: Record<string, string>): Promise<{ code: number; out: string }> {
  const written: string[] = [];
  try {
    for (const [rel, text] of Object.entries(extra)) {
      const path = join(root, rel);
      await writeFile(path, text);
      written.push(path);
    }
    const { stdout } = await run(depcruise, ['src', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], { cwd: root });
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
});
