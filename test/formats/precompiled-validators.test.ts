/**
 * The built CLI validates with schema validators compiled by the build (dist/validators.js, from
 * scripts/build-validators.ts), not at start-up. These tests check that the build covers every
 * schema, and that a precompiled validator (ajv's optimiser on) reports exactly what the one
 * compiled at run time (as tests and `tsx` runs use) reports.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { preparePlaybook } from '../../src/commands/prepare.js';
import { KcarunError, KcarunErrorList, formatError } from '../../src/core/errors.js';
import { schemaFingerprint } from '../../src/formats/schema-check.js';
import { documentSchemas } from '../../src/formats/playbook/schema.js';
import { leaderProbeTypes, taskTypes } from '../../src/tasks/index.js';
import { runCli } from '../helpers/cli.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BROKEN = join(ROOT, 'test', 'fixtures', 'broken');
const built = async () => (await import(join(ROOT, 'dist', 'validators.js'))) as { byFingerprint: Record<string, unknown> };

describe('precompiled schema validators', () => {
  it('the build compiled one for every document, task and leader-probe schema', async () => {
    const { byFingerprint } = await built();
    const schemas = [...Object.values(documentSchemas), ...[...taskTypes.values()].map((t) => t.schema), ...[...leaderProbeTypes.values()].map((p) => p.schema)];
    const missing = schemas.filter((s) => typeof byFingerprint[schemaFingerprint(s)] !== 'function');
    expect(missing.map((s) => JSON.stringify(s).slice(0, 80))).toEqual([]);
  });

  it('validating the stock playbooks compiles nothing at run time once they are in use', async () => {
    vi.resetModules();
    const check = await import('../../src/formats/schema-check.js');
    const { preparePlaybook: prepare } = await import('../../src/commands/prepare.js');
    check.usePrecompiledValidators((await built()).byFingerprint as never);
    const before = check.validatorsCompiledAtRunTime();
    for (const playbook of ['rotate-ca.yaml', 'renew-leaf-certs.yaml', 'check-expiry.yaml', 'offline-replace.yaml']) {
      await prepare({ playbook: join(ROOT, 'playbooks', playbook), inventory: join(ROOT, 'inventory.example.yaml'), extraVars: [], cwd: ROOT });
    }
    expect(check.validatorsCompiledAtRunTime() - before).toBe(0);
  });

  it('the built CLI reports the broken corpus exactly as the sources do', async () => {
    const cases = readdirSync(BROKEN).filter((f) => /^\d+-.*\.yaml$/.test(f)).sort();
    const positioned = (text: string) => text.split('\n').map((l) => l.trim().replace(/^error: /, '')).filter((l) => /\.yaml:\d+:\d+: /.test(l));
    for (const file of cases) {
      const inventory = /^# inventory: (.+)$/m.exec(readFileSync(join(BROKEN, file), 'utf8'))?.[1];
      let expected: string[] = [];
      try {
        await preparePlaybook({ playbook: file, inventory, extraVars: [], cwd: BROKEN });
      } catch (err) {
        if (err instanceof KcarunErrorList) expected = err.errors.map(formatError);
        else if (err instanceof KcarunError) expected = [formatError(err)];
        else throw err;
      }
      const result = await runCli(['validate', file, ...(inventory ? ['-i', inventory] : [])], { cwd: BROKEN });
      expect(result.code, file).toBe(2);
      expect(result.stderr, file).not.toMatch(/internal error|\n\s+at /);
      expect(positioned(result.stderr), file).toEqual(expected.flatMap(positioned));
    }
  }, 120_000);
});
