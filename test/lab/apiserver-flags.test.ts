/**
 * The emulated lab's clients that act "as the apiserver" (its traffic, up's health check) take the
 * etcd and front-proxy client files from the apiserver's static pod manifest as it is now
 * (lab/components/apiserver-flags.ts), so they follow a rotation that points a flag at a bundle.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { apiserverClientFiles } from '../../lab/components/apiserver-flags.js';

const root = mkdtempSync(join(tmpdir(), 'kcarun-apiserver-flags-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const MANIFEST = '/etc/kubernetes/manifests/kube-apiserver.yaml';
const inNode = (p: string): string => join(root, p);

/** Writes the manifest with `command` and `args` as kubeadm's, in the node's folder. */
function writeManifest(command: string[], args: string[] = []): void {
  mkdirSync(inNode('/etc/kubernetes/manifests'), { recursive: true });
  writeFileSync(inNode(MANIFEST), stringify({ apiVersion: 'v1', kind: 'Pod', spec: { containers: [{ name: 'kube-apiserver', command, args }] } }));
}

describe('apiserverClientFiles', () => {
  it('reads the etcd and front-proxy client files from the command and args of the manifest as it is now', () => {
    writeManifest(
      ['kube-apiserver', '--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt', '--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt'],
      ['--etcd-keyfile', '/etc/kubernetes/pki/apiserver-etcd-client.key', '--proxy-client-cert-file=/p.crt', '--proxy-client-key-file=/p.key'],
    );
    expect(apiserverClientFiles(MANIFEST, inNode)).toEqual({
      etcd: { ca: '/etc/kubernetes/pki/etcd/ca.crt', cert: '/etc/kubernetes/pki/apiserver-etcd-client.crt', key: '/etc/kubernetes/pki/apiserver-etcd-client.key' },
      proxyClient: { cert: '/p.crt', key: '/p.key' },
    });
    // A rotation points the CA flag at a bundle: the next read follows it.
    writeManifest(['kube-apiserver', '--etcd-cafile=/etc/kubernetes/pki/etcd/ca-bundle.crt', '--etcd-certfile=/c.crt', '--etcd-keyfile=/c.key']);
    expect(apiserverClientFiles(MANIFEST, inNode)).toEqual({ etcd: { ca: '/etc/kubernetes/pki/etcd/ca-bundle.crt', cert: '/c.crt', key: '/c.key' }, proxyClient: undefined });
  });

  it('names the manifest and the flag it lacks', () => {
    writeManifest(['kube-apiserver', '--etcd-cafile=/ca.crt', '--etcd-keyfile=/c.key']);
    expect(() => apiserverClientFiles(MANIFEST, inNode)).toThrow(`${MANIFEST}: no --etcd-certfile`);
  });
});
