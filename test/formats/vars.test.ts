import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveInventory } from '../../src/formats/inventory/load.js';
import { resolveHostPattern } from '../../src/formats/inventory/patterns.js';
import { parseSource } from '../../src/formats/source.js';
import { KcarunError, formatError } from '../../src/core/errors.js';
import { hostVars, loadExtraVars } from '../../src/formats/playbook/vars.js';
import type { InventorySpec } from '../../src/formats/playbook/schema.js';

const inventoryYaml = `
apiVersion: kcarun/v1
kind: Inventory
vars: { level: inventory, from_inventory: 1 }
hosts:
  cp1: { vars: { level: host } }
  cp2: {}
  cp3: {}
  w1: {}
groups:
  control_plane: { hosts: [cp1, cp2, cp3], vars: { level: group-cp, cp_only: yes } }
  etcd: { children: [control_plane], vars: { level: group-etcd } }
  workers: { hosts: [w1] }
`;

function inventory() {
  const source = parseSource('inv.yaml', inventoryYaml);
  return resolveInventory(source.value as InventorySpec, source);
}

describe('variable precedence', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcarun-vars-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('playbook < inventory < group (parent before child) < host < -e @file < -e key=value', async () => {
    const inv = inventory();
    const layers = { playbook: { level: 'playbook', only_playbook: true }, extraFiles: {}, extraInline: {} };
    expect(hostVars(inv, 'cp1', layers).level).toBe('host');
    // cp2 is in control_plane (depth 2, child of etcd) and etcd (depth 1): the child group wins.
    expect(hostVars(inv, 'cp2', layers).level).toBe('group-cp');
    expect(hostVars(inv, 'w1', layers).level).toBe('inventory');
    expect(hostVars(inv, 'w1', layers).only_playbook).toBe(true);
    expect(hostVars(inv, 'local', layers).level).toBe('inventory');

    await writeFile(join(dir, 'prod.yaml'), 'level: file\nfrom_file: 2\n');
    const extra = await loadExtraVars(['@prod.yaml', 'level=inline'], dir);
    expect(hostVars(inv, 'cp1', { ...layers, extraFiles: extra.files, extraInline: {} }).level).toBe('file');
    expect(hostVars(inv, 'cp1', { ...layers, extraFiles: extra.files, extraInline: extra.inline }).level).toBe('inline');
    expect(hostVars(inv, 'cp1', { ...layers, extraFiles: extra.files, extraInline: extra.inline }).from_file).toBe(2);
  });

  it('rejects a malformed -e', async () => {
    await expect(loadExtraVars(['novalue'], dir)).rejects.toThrow(/expected key=value/);
    await expect(loadExtraVars(['@missing.yaml'], dir)).rejects.toThrow(/missing\.yaml/);
  });

  it('names an undefined alias in -e (inline or @file) at its position, not as an alias bomb', async () => {
    const inline = await loadExtraVars(['{x: *a}'], dir).catch((e: unknown) => e);
    expect(inline).toBeInstanceOf(KcarunError);
    expect(formatError(inline as KcarunError)).toBe('-e:1:5: alias *a names no anchor defined before it (define it with &a first)');
    await writeFile(join(dir, 'vars.yaml'), 'ok: &b 1\nlater: [*b, *c]\nc: &c 2\n');
    const file = await loadExtraVars(['@vars.yaml'], dir).catch((e: unknown) => e);
    expect(formatError(file as KcarunError)).toBe(`${join(dir, 'vars.yaml')}:2:13: alias *c names no anchor defined before it (define it with &c first)`);
  });
});

describe('host patterns', () => {
  it('resolves groups with children, globs, unions, intersections and exclusions in inventory order', () => {
    const inv = inventory();
    expect(resolveHostPattern(inv, 'etcd')).toEqual(['cp1', 'cp2', 'cp3']);
    expect(resolveHostPattern(inv, 'cp*')).toEqual(['cp1', 'cp2', 'cp3']);
    expect(resolveHostPattern(inv, 'etcd:!cp2')).toEqual(['cp1', 'cp3']);
    expect(resolveHostPattern(inv, 'all:&workers')).toEqual(['w1']);
    expect(resolveHostPattern(inv, ['w1', 'cp3'])).toEqual(['cp3', 'w1']);
    expect(resolveHostPattern(inv, 'local')).toEqual(['local']);
  });

  it('refuses an unknown name instead of selecting nothing', () => {
    expect(() => resolveHostPattern(inventory(), 'etcdd')).toThrow(/unknown host or group "etcdd"/);
    expect(() => resolveHostPattern(inventory(), 'zz*')).toThrow(/matches no host/);
  });
});
