import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { filePatchTask } from '../../../src/tasks/file-patch/index.js';
import type { TaskContext } from '../../../src/tasks/define.js';
import { makeTaskContext, makeTempDir } from '../../helpers/task-context.js';
import { opensslCa } from '../../pki/openssl.js';

type Params = Parameters<typeof filePatchTask.run>[0]['params'];

const b64 = async (path: string): Promise<string> => (await readFile(path)).toString('base64');

/**
 * issue 16 item 1: a merged kubeconfig, our cluster `kubernetes` and an unrelated `other-prod` with
 * its own CA. The stock trust/finalize/offline stages call kubeconfig-ca without `cluster:`.
 */
describe('kubeconfig-ca with oldCa changes only the clusters that trust the rotated CA', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let oldCa: string;
  let newCa: string;
  let prodCa: string;
  let bundle: string;
  let kubeconfig: string;
  let original: string;
  const warnings: string[] = [];

  beforeEach(async () => {
    ({ dir, cleanup } = await makeTempDir('kcarun-kubeconfig-ca-'));
    oldCa = (await opensslCa(dir, 'old-ca', '/CN=kubernetes')).cert;
    newCa = (await opensslCa(dir, 'new-ca', '/CN=kubernetes (rotated)')).cert;
    prodCa = (await opensslCa(dir, 'prod-ca', '/CN=prod')).cert;
    bundle = join(dir, 'bundle.crt');
    await writeFile(bundle, Buffer.concat([await readFile(newCa), await readFile(oldCa)]));
    kubeconfig = join(dir, 'config');
    // Spacing, quoting and comments of the other entries must survive byte for byte.
    original = [
      'apiVersion: v1',
      'clusters:',
      '- cluster:',
      `    certificate-authority-data: ${await b64(oldCa)}`,
      '    server: https://10.0.0.10:6443',
      '  name: kubernetes',
      '- cluster:',
      `    certificate-authority-data:   "${await b64(prodCa)}"   # prod, not ours`,
      '    server:    https://prod.example.com:443',
      '  name: other-prod',
      'contexts:',
      '- context: {cluster: kubernetes, user: kubernetes-admin}',
      '  name: kubernetes-admin@kubernetes',
      '- context: {cluster: other-prod, user: prod}',
      '  name: prod',
      'current-context: kubernetes-admin@kubernetes',
      'kind: Config',
      'preferences: {}',
      'users:',
      '- name: kubernetes-admin',
      '  user:',
      '    token: abc',
      '- name: prod',
      '  user: {token: def}',
      '',
    ].join('\n');
    await writeFile(kubeconfig, original);
    warnings.length = 0;
  });
  afterEach(() => cleanup());

  const patch = async (edits: Params['edits']): Promise<{ changed: boolean; text: string }> => {
    const ctx = (await makeTaskContext({ params: { path: kubeconfig, edits } as Params, stateDir: join(dir, 'state') })) as TaskContext<Params>;
    ctx.log.warn = (m) => void warnings.push(m);
    const outcome = await filePatchTask.run(ctx);
    return { changed: outcome.changed, text: await readFile(kubeconfig, 'utf8') };
  };

  it('trust: the bundle goes into `kubernetes` only; every other byte is as it was', async () => {
    const trust = await patch([{ op: 'kubeconfig-ca', ca: { hostFile: bundle }, oldCa: { hostFile: oldCa } }]);
    expect(trust.changed).toBe(true);
    expect(trust.text).toBe(original.replace(`certificate-authority-data: ${await b64(oldCa)}`, `certificate-authority-data: ${await b64(bundle)}`));

    // A repeated trust step finds the bundle, which still holds the old CA: same bytes, no change.
    expect(await patch([{ op: 'kubeconfig-ca', ca: { hostFile: bundle }, oldCa: { hostFile: oldCa } }])).toEqual({ changed: false, text: trust.text });

    // finalize: the entry holding the bundle trusts the old CA, so it gets the new CA alone.
    const finalize = await patch([{ op: 'kubeconfig-ca', ca: { hostFile: newCa }, oldCa: { hostFile: oldCa } }]);
    expect(finalize.text).toBe(original.replace(`certificate-authority-data: ${await b64(oldCa)}`, `certificate-authority-data: ${await b64(newCa)}`));
    // ...and a finalize run again finds nothing trusting the old CA.
    expect((await patch([{ op: 'kubeconfig-ca', ca: { hostFile: newCa }, oldCa: { hostFile: oldCa } }])).changed).toBe(false);
    expect(warnings).toEqual([]);
  });

  it('by path: an entry naming a file that holds the old CA is switched; other-prod is not', async () => {
    const caFile = join(dir, 'ca.crt');
    await writeFile(caFile, await readFile(oldCa));
    const byPath = original.replace(`certificate-authority-data: ${await b64(oldCa)}`, `certificate-authority: ${caFile}`);
    await writeFile(kubeconfig, byPath);
    const r = await patch([{ op: 'kubeconfig-ca', ca: { path: bundle }, oldCa: { hostFile: oldCa } }]);
    expect(r.text).toBe(byPath.replace(`certificate-authority: ${caFile}`, `certificate-authority: ${bundle}`));
  });

  it('an entry with both certificate-authority and -data is made consistent (the data decides), with a warning', async () => {
    const both = original.replace(
      `    certificate-authority-data: ${await b64(oldCa)}\n`,
      `    certificate-authority: /nonexistent/ca.crt\n    certificate-authority-data: ${await b64(oldCa)}\n`,
    );
    await writeFile(kubeconfig, both);
    const r = await patch([{ op: 'kubeconfig-ca', ca: { hostFile: bundle }, oldCa: { hostFile: oldCa } }]);
    expect(r.text).toBe(original.replace(`certificate-authority-data: ${await b64(oldCa)}`, `certificate-authority-data: ${await b64(bundle)}`));
    expect(warnings).toEqual([
      `${kubeconfig}: cluster kubernetes had both certificate-authority and certificate-authority-data (client-go uses the data); it now has only certificate-authority-data`,
    ]);
  });

  it('with `cluster:` only that entry changes, the others keep their spacing', async () => {
    const r = await patch([{ op: 'kubeconfig-ca', cluster: 'kubernetes', ca: { path: '/etc/kubernetes/pki/ca-bundle.crt' } }]);
    expect(r.text).toBe(original.replace(`certificate-authority-data: ${await b64(oldCa)}`, 'certificate-authority: /etc/kubernetes/pki/ca-bundle.crt'));
  });
});
