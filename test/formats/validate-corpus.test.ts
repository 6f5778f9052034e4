import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KcarunError, KcarunErrorList, formatError } from '../../src/core/errors.js';
import { preparePlaybook } from '../../src/commands/prepare.js';

const dir = join(import.meta.dirname, '..', 'fixtures', 'broken');
const cases = readdirSync(dir).filter((f) => /^\d+-.*\.yaml$/.test(f)).sort();

/** Every problem of a failed validation, one `FILE:LINE:COL: message` line each. */
async function validationLines(playbook: string, inventory?: string): Promise<string[]> {
  try {
    await preparePlaybook({ playbook, inventory, extraVars: [], cwd: dir });
  } catch (err) {
    if (err instanceof KcarunErrorList) return err.errors.map(formatError);
    if (err instanceof KcarunError) return [formatError(err)];
    throw err;
  }
  return [];
}

describe('the broken-playbook corpus', () => {
  it('has at least 60 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
  });

  it.each(cases)('%s is rejected with its expected FILE:LINE:COL message', async (file) => {
    const text = readFileSync(join(dir, file), 'utf8');
    const expected = /^# expect: (.+)$/m.exec(text)?.[1];
    const inventory = /^# inventory: (.+)$/m.exec(text)?.[1];
    expect(expected, `${file} needs an "# expect:" line`).toBeTruthy();
    const lines = await validationLines(file, inventory);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.some((l) => l.includes(`/${expected!}`) || l.includes(expected!)), `got:\n${lines.join('\n')}`).toBe(true);
    // Positions are absolute paths ending in FILE:LINE:COL.
    for (const l of lines) expect(l).toMatch(/\.yaml:\d+:\d+: /);
  });
});

describe('validation reports every problem at once', () => {
  it('lists all schema errors of a playbook, not just the first', async () => {
    const lines = await validationLines('06-unknown-stage-key.yaml');
    expect(lines).toHaveLength(1);
    const many = await validationLines(join(import.meta.dirname, '..', 'fixtures', 'many-errors.yaml'));
    expect(many.length).toBeGreaterThanOrEqual(3);
    expect(many.join('\n')).toContain('unknown key "hostz"');
    expect(many.join('\n')).toContain('unknown key "wiht"');
    expect(many.join('\n')).toContain('metadata.version');
  });
});
