/**
 * flag-read over a real sshd: which per-signer controller-manager flags a manifest or unit sets and
 * the files they name (the stock signers stage writes the new CA into those), `except` leaving out
 * the main CA files, and `mustHoldOneOf` refusing a per-signer file that holds some other CA (made
 * with the openssl CLI), naming the flag, the file and that CA.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { flagReadTask } from '../../../src/tasks/flag-read/index.js';
import { useRemoteEnv } from './remote-env.js';

type Params = Parameters<typeof flagReadTask.run>[0]['params'];
const certFlags = ['kubelet-client', 'kubelet-serving', 'kube-apiserver-client', 'legacy-unknown'].map((s) => `cluster-signing-${s}-cert-file`);

function makeCa(dir: string, name: string, cn: string): string {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', `/CN=${cn}`, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`)], { stdio: 'ignore' });
  return join(dir, `${name}.crt`);
}

describe('flag-read', () => {
  const env = useRemoteEnv();

  it('registers the per-signer files a manifest names, leaving out the main CA file; a unit too', async () => {
    const d = env.remoteDir;
    const manifest = `apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: kube-controller-manager\n    command:\n    - kube-controller-manager\n    - --cluster-signing-cert-file=${d}/ca.crt\n    - --cluster-signing-kubelet-client-cert-file=${d}/signers/kubelet-client.crt\n    - --cluster-signing-legacy-unknown-cert-file=${d}/ca.crt\n`;
    await writeFile(join(d, 'kcm.yaml'), manifest);
    const out = await flagReadTask.run(await env.ctx<Params>({ path: join(d, 'kcm.yaml'), in: 'manifest', flags: certFlags, except: [`${d}/ca.crt`] }));
    expect(out.changed).toBe(false);
    expect(out.output).toEqual({
      set: [
        { flag: 'cluster-signing-kubelet-client-cert-file', value: `${d}/signers/kubelet-client.crt` },
        { flag: 'cluster-signing-legacy-unknown-cert-file', value: `${d}/ca.crt` },
      ],
      paths: [`${d}/signers/kubelet-client.crt`],
    });
    await writeFile(join(d, 'kcm.service'), `[Service]\nExecStart=/usr/local/bin/kube-controller-manager \\\n  --cluster-signing-kubelet-serving-cert-file ${d}/serving.pem\n`);
    const unit = await flagReadTask.run(await env.ctx<Params>({ path: join(d, 'kcm.service'), in: 'unit', flags: certFlags }));
    expect(unit.output).toMatchObject({ paths: [`${d}/serving.pem`] });
    // No file (a host without a controller-manager): nothing set.
    const none = await flagReadTask.run(await env.ctx<Params>({ path: join(d, 'absent.yaml'), in: 'manifest', flags: certFlags }));
    expect(none.output).toEqual({ set: [], paths: [] });
  });

  it('mustHoldOneOf: a copy of the cluster CA passes; a file holding another CA is refused, named', async () => {
    const d = env.remoteDir;
    await mkdir(join(env.stateDir, 'artifacts', 'ca'), { recursive: true });
    const clusterCa = makeCa(d, 'ca', 'kubernetes');
    const otherCa = makeCa(d, 'other', 'someone-elses-ca');
    await writeFile(join(env.stateDir, 'artifacts', 'ca', 'kubernetes-ca-old.crt'), await readFile(clusterCa));
    await writeFile(join(d, 'copy.crt'), await readFile(clusterCa));
    const manifest = (file: string) => `apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: kube-controller-manager\n    command:\n    - kube-controller-manager\n    - --cluster-signing-kubelet-serving-cert-file=${file}\n`;
    await writeFile(join(d, 'kcm.yaml'), manifest(join(d, 'copy.crt')));
    const params = { path: join(d, 'kcm.yaml'), in: 'manifest' as const, flags: certFlags, mustHoldOneOf: ['ca/kubernetes-ca-old.crt'] };
    await expect(flagReadTask.run(await env.ctx<Params>(params))).resolves.toMatchObject({ output: { paths: [join(d, 'copy.crt')] } });
    await writeFile(join(d, 'kcm.yaml'), manifest(otherCa));
    await expect(flagReadTask.run(await env.ctx<Params>(params))).rejects.toThrow(`${otherCa} (--cluster-signing-kubelet-serving-cert-file in ${join(d, 'kcm.yaml')}) holds another CA (CN=someone-elses-ca), not the CA being rotated`);
  });
});
