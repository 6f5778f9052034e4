/**
 * The parts of a dry run below the CLI: the overlay hosts are read through (planned writes read
 * back, writes refused), the summary per host, the placeholder outputs `when:`s evaluate against,
 * and how a planned file is shown (certificates by subject, keys never).
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DryRunWorld, overlayTransports, placeholderOutput } from '../../src/engine/dry-run.js';
import type { TransportProvider } from '../../src/engine/transports.js';
import { evaluate, renderString } from '../../src/formats/template.js';
import { plannedFileChange } from '../../src/tasks/shared/planned-file.js';
import { LocalTransport } from '../../src/transport/local.js';
import { makeTempDir } from '../helpers/task-context.js';
import { opensslCa } from '../pki/openssl.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-dry-world-'));
});
afterEach(async () => cleanup());

function provider(): TransportProvider {
  const t = new LocalTransport('node1');
  return { get: async () => t, opened: 0, closeAll: async () => {} };
}

describe('the dry run world', () => {
  it('hosts read as the planned steps leave them; writes are refused; the summary counts per host', async () => {
    const file = join(dir, 'kubelet.yaml');
    await writeFile(file, 'a: 1\n');
    const world = new DryRunWorld();
    const t = await overlayTransports(provider(), world).get('node1');
    expect((await t.readFile(file)).toString()).toBe('a: 1\n');

    world.record({ stage: 'trust', task: 'patch', host: 'node1' }, 'node1', { files: [{ path: file, kind: 'modify', content: Buffer.from('a: 2\n'), added: 1, removed: 1 }], restarts: [{ component: 'kubelet', how: 'systemd' }], gate: 'node Ready' });
    world.record({ stage: 'distribute', task: 'bundle', host: 'node1' }, 'node1', { files: [{ path: join(dir, 'bundle.crt'), kind: 'create', content: Buffer.from('x'), added: 2 }] });
    world.record({ stage: 'cleanup', task: 'rm', host: 'node1' }, 'node1', { files: [{ path: join(dir, 'bundle.crt'), kind: 'delete', content: null, removed: 1 }], restarts: [{ component: 'kubelet', how: 'systemd' }] });
    world.record({ stage: 'backup', task: 'tar', host: 'node1' }, 'node1', { files: [{ path: join(dir, 'backup.tgz'), kind: 'create', content: null }] });

    expect((await t.readFile(file)).toString()).toBe('a: 2\n');
    expect(await readFile(file, 'utf8')).toBe('a: 1\n');
    expect((await t.stat(file))?.size).toBe(5);
    expect(await t.stat(join(dir, 'bundle.crt'))).toBeNull();
    await expect(t.readFile(join(dir, 'backup.tgz'))).rejects.toMatchObject({ code: 'E_DRY_RUN', message: expect.stringContaining('known only once step "tar" (backup) has run') });
    await expect(t.writeFile(file, 'a: 3\n')).rejects.toMatchObject({ code: 'E_DRY_RUN' });
    expect(await readFile(file, 'utf8')).toBe('a: 1\n');

    const [node1] = world.summary().hosts;
    expect(node1!.files.map((f) => [f.path.slice(dir.length + 1), f.kind, f.added, f.removed])).toEqual([
      ['backup.tgz', 'create', 0, 0],
      ['bundle.crt', 'transient', 2, 1],
      ['kubelet.yaml', 'modify', 1, 1],
    ]);
    expect(node1!.restarts).toEqual([{ component: 'kubelet', count: 2 }]);
    expect(node1!.restartOrder).toEqual(['trust: kubelet', 'cleanup: kubelet']);
    expect(node1!.gates).toBe(1);
  });

  it('an unpredictable registered output reads as a visible placeholder: when:s and templates evaluate', () => {
    const scope = { stamp: placeholderOutput('a command', 'cp1') };
    expect(evaluate('stamp.rc == 0 or stamp.changed', scope)).toBe(true);
    expect(renderString('got {{ stamp.stdout }}', scope)).toBe('got <unknown until the run: stdout of "a command" on cp1>');
  });
});

describe('a planned file as shown', () => {
  it('a key is never shown; certificates are shown by subject, SANs, issuer and validity', async () => {
    const old = await opensslCa(dir, 'old', '/CN=old-ca', 'ec');
    const fresh = await opensslCa(dir, 'new', '/CN=new-ca', 'ec');
    const oldPem = await readFile(old.cert);
    const newPem = await readFile(fresh.cert);
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

    const bundle = await plannedFileChange('cp1', '/etc/k/ca-bundle.crt', null, Buffer.concat([newPem, oldPem]), 0o644, undefined);
    expect(bundle.file).toMatchObject({ kind: 'create', added: 2, removed: 0 });
    expect(bundle.diff).toMatch(/^\+ subject CN=new-ca, issuer CN=new-ca, \d{4}-/m);
    expect(bundle.diff).toMatch(/^\+ subject CN=old-ca, issuer CN=old-ca, \d{4}-/m);

    const keyFile = await plannedFileChange('cp1', '/etc/k/ca.key', Buffer.from(key), Buffer.from(key.replace('A', 'B')), 0o600, 0o600);
    expect(keyFile.diff).toBe('cp1:/etc/k/ca.key: replaced private key (key material, not shown)');

    const combined = await plannedFileChange('cp1', '/var/lib/kubelet/pki/kubelet-client-current.pem', Buffer.concat([oldPem, Buffer.from(key)]), Buffer.concat([newPem, Buffer.from(key)]), 0o600, 0o600);
    expect(combined.diff).toMatch(/^- subject CN=old-ca/m);
    expect(combined.diff).toMatch(/^\+ subject CN=new-ca/m);
    expect(combined.diff).toContain('(the file holds a private key too: not shown)');
    for (const d of [bundle.diff, keyFile.diff, combined.diff]) expect(d).not.toMatch(/PRIVATE KEY-----|MII/);

    const text = await plannedFileChange('cp1', '/etc/k/admin.conf', Buffer.from('users:\n- user:\n    client-key-data: AAAA\n    token: old\n'), Buffer.from('users:\n- user:\n    client-key-data: BBBB\n    token: new\n'), 0o600, 0o600);
    expect(text.diff).not.toMatch(/AAAA|BBBB|old\n|token: new/);
    expect(text.file).toMatchObject({ kind: 'modify', added: 2, removed: 2 });
  });
});
