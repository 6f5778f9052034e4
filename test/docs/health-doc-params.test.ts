/**
 * docs/health.md is the reference for the health tasks' parameters: every key their schemas accept
 * is named there, so a key added to a schema without a word in the doc fails here (review of session
 * 26 found `name`, the per-probe poll keys and preflight's `skipSelfSigned` undocumented).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { taskTypes } from '../../src/tasks/index.js';
import { ProbeSchema } from '../../src/tasks/wait-healthy/schema.js';

const doc = readFileSync(join(import.meta.dirname, '../../docs/health.md'), 'utf8');

interface SchemaNode {
  anyOf?: SchemaNode[];
  type?: string;
  items?: SchemaNode;
  properties?: Record<string, SchemaNode>;
  const?: string;
}

/** Every property name in a schema, nested ones included ("certificates[].skipSelfSigned"). */
function keyPaths(s: SchemaNode | undefined, prefix = ''): string[] {
  if (!s) return [];
  if (s.anyOf) return [...new Set(s.anyOf.flatMap((x) => keyPaths(x, prefix)))];
  if (s.type === 'array') return keyPaths(s.items, `${prefix}[]`);
  return Object.entries(s.properties ?? {}).flatMap(([k, v]) => [`${prefix}${k}`, ...keyPaths(v, `${prefix}${k}.`)]);
}

/** A key counts as documented when the text names it as `key` or uses it as `key:` (YAML examples). */
const named = (text: string, key: string): boolean => text.includes(`\`${key}\``) || new RegExp(`\\b${key}:`).test(text);
const leaf = (path: string): string => path.split('.').pop()!.replace(/\[\]/g, '');

describe('docs/health.md names every parameter', () => {
  it.each(['etcd-snapshot', 'wait-healthy', 'kube-rollout-restart', 'kube-configmap-patch', 'kube-wait', 'preflight'])('%s', (type) => {
    const schema = taskTypes.get(type)?.schema as TSchema | undefined;
    expect(schema, type).toBeDefined();
    expect(keyPaths(schema as SchemaNode).filter((p) => !named(doc, leaf(p)))).toEqual([]);
  });

  it.each((ProbeSchema as SchemaNode).anyOf!.map((s) => [s.properties!['kind']!.const!, s] as const))('probe %s: its row, or the line every probe shares', (kind, s) => {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${kind}\``));
    expect(row, `a table row for ${kind}`).toBeDefined();
    const shared = doc.split('\n').find((l) => l.startsWith('Every probe also takes')) ?? '';
    const next = doc.split('\n')[doc.split('\n').indexOf(shared) + 1] ?? '';
    expect(keyPaths(s).filter((k) => k !== 'kind' && !named(row!, k) && !named(`${shared}\n${next}`, k))).toEqual([]);
  });
});
