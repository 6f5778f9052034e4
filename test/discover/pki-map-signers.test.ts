/**
 * discover's word on kube-controller-manager's per-signer pairs (--cluster-signing-<signer>-cert-file),
 * measured against what the stock switch-signers stage does with them: a file holding the cluster
 * CA (a copy, or ca.crt itself) is switched, so it gets no warning; a file holding some other CA is
 * refused by that stage, so discover says so before any run. CAs made with the openssl CLI.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { HostFacts } from '../../src/discover/collect.js';
import type { ComponentInstance, Setting } from '../../src/discover/components.js';
import { buildPkiMap } from '../../src/discover/pki-map.js';

const dir = mkdtempSync(join(tmpdir(), 'kcarun-signers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function ca(name: string, cn: string): Buffer {
  const crt = join(dir, `${name}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', crt, '-days', '30', '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { stdio: 'ignore' });
  return readFileSync(crt);
}

const flag = (name: string, value: string): Setting => ({ name, value, source: { kind: 'manifest-flag', file: '/etc/kubernetes/manifests/kube-controller-manager.yaml', key: `--${name}` } });

function facts(files: Record<string, Buffer>, settings: Record<string, string>): HostFacts {
  const kcm: ComponentInstance = {
    name: 'kube-controller-manager',
    pid: 10,
    argv: [],
    flagsIn: 'manifest',
    configFile: '/etc/kubernetes/manifests/kube-controller-manager.yaml',
    restart: { method: 'static-pod', container: 'kube-controller-manager' },
    settings: Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, flag(k, v)])),
    precedence: '',
    warnings: [],
  };
  return { host: 'cp1', components: [kcm], unitNames: [], files: new Map(Object.entries(files)), kubeconfigs: new Map(), keysPresent: new Set(), caKeyCandidates: new Map(), scannedFiles: Object.keys(files), warnings: [] };
}

describe('discover: per-signer CA files of kube-controller-manager', () => {
  const cluster = ca('cluster', 'kubernetes');
  const other = ca('other', 'kubelet-serving-ca');
  const PKI = '/etc/kubernetes/pki';

  it('no warning for per-signer files that hold the cluster CA (a copy, or ca.crt itself): switch-signers switches them', () => {
    const map = buildPkiMap([facts({ [`${PKI}/ca.crt`]: cluster, [`${PKI}/signers/kubelet-client.crt`]: cluster }, {
      'cluster-signing-cert-file': `${PKI}/ca.crt`,
      'cluster-signing-kubelet-client-cert-file': `${PKI}/signers/kubelet-client.crt`,
      'cluster-signing-kube-apiserver-client-cert-file': `${PKI}/ca.crt`,
    })]);
    expect(map.warnings.filter((w) => w.includes('CSRs'))).toEqual([]);
  });

  it('warns, naming the file and its CA, when a per-signer file holds another CA (switch-signers refuses it)', () => {
    const map = buildPkiMap([facts({ [`${PKI}/ca.crt`]: cluster, [`${PKI}/signers/kubelet-serving.crt`]: other }, {
      'cluster-signing-cert-file': `${PKI}/ca.crt`,
      'cluster-signing-kubelet-serving-cert-file': `${PKI}/signers/kubelet-serving.crt`,
    })]);
    expect(map.warnings.filter((w) => w.includes('CSRs'))).toEqual([
      `cp1: kube-controller-manager signs kubelet-serving CSRs with ${PKI}/signers/kubelet-serving.crt (--cluster-signing-kubelet-serving-cert-file), which holds CN=kubelet-serving-ca, not the cluster CA: the stock switch-signers stage refuses it (rotate that signer's CA on its own)`,
    ]);
  });
});
