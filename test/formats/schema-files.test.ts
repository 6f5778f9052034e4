import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildSchemaFiles } from '../../src/formats/schema-files.js';

describe('schemas/', () => {
  it('holds the JSON Schemas derived from the source (run `npm run schemas` after changing a format)', () => {
    for (const [name, schema] of Object.entries(buildSchemaFiles())) {
      const committed = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'schemas', name), 'utf8')) as unknown;
      expect(committed, `schemas/${name} is stale`).toEqual(JSON.parse(JSON.stringify(schema)));
    }
  });
});
