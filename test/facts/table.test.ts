/**
 * The reload-fact table and the tests that prove it cannot drift: every row marked `evidence: 'test'`
 * is asserted by a test in test/facts/ (their keys are listed in harness.ts next to the tests), and
 * no test proves a row the table does not have or marks as source-only.
 */
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reloadFacts } from '../../src/pki/reload-facts.js';
import { TESTED_SETTINGS } from './harness.js';

describe('src/pki/reload-facts.ts', () => {
  it('marks exactly the rows test/facts proves as evidence: test', () => {
    const tested = reloadFacts.filter((f) => f.evidence === 'test').map((f) => `${f.component} ${f.setting}`).sort();
    expect(tested).toEqual([...TESTED_SETTINGS].sort());
  });

  it('gives every tested row the seconds its test holds it to, and one row per component and setting', () => {
    for (const f of reloadFacts.filter((r) => r.evidence === 'test')) expect(f.withinSeconds, `${f.component} ${f.setting}`).toBeGreaterThan(0);
    const keys = reloadFacts.map((f) => `${f.component} ${f.setting}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('names sources that exist in the Go module cache, with line numbers', () => {
    const modcache = execFileSync('go', ['env', 'GOMODCACHE']).toString().trim();
    const cited = reloadFacts.map((f) => {
      const files = [...f.source.matchAll(/([\w.\-/]+@v[\w.\-]+\/[\w.\-/]+\.go):\d+/g)].map((m) => m[1]!);
      expect(files.length, `${f.component} ${f.setting}: ${f.source}`).toBeGreaterThan(0);
      return files;
    });
    // The lab's build fills the cache; binaries copied from another version set's cache (the build
    // script's reuse) leave their modules out of it: fetch those from the module proxy first.
    const missing = [...new Set(cited.flat().filter((file) => !existsSync(join(modcache, file))).map((file) => /^(.+@v[\w.\-]+)\//.exec(file)![1]!))];
    if (missing.length) execFileSync('go', ['mod', 'download', ...missing], { stdio: 'pipe' });
    for (const file of cited.flat()) expect(existsSync(join(modcache, file)), file).toBe(true);
  }, 120_000);
});
