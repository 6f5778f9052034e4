/**
 * Paths on a host must be absolute, artifact paths must stay inside artifacts/ (hostile-input
 * review): one rule per kind of path (tasks/shared/schemas.ts RemotePathSchema, ArtifactPathSchema),
 * checked here through each task type's real schema.
 */
import { describe, expect, it } from 'vitest';
import { schemaProblems } from '../../src/formats/schema-check.js';
import { taskTypes } from '../../src/tasks/index.js';

const RELATIVE = 'must be an absolute path (starting with /) with no control character (a newline, a tab): a relative path on a host depends on the folder the SSH login starts in, and a control character breaks the line-based output of the tools that print paths (sha256sum, ls)';
const ESCAPE = 'must be a path inside the state dir\'s artifacts/ folder: relative, with no ".." segment';

function problems(type: string, params: Record<string, unknown>): string[] {
  return schemaProblems(taskTypes.get(type)!.schema, params).map((p) => p.message);
}

describe('a path on a host is absolute', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['file-patch', { path: 'admin.conf', edits: [{ op: 'line', match: 'x', line: 'x' }] }, 'path'],
    ['file-upload', { dest: '~/ca.crt', content: 'x' }, 'dest'],
    ['file-fetch', { src: './ca.crt', artifact: 'a' }, 'src'],
    ['cert-install', { path: '/etc/a.pem', artifact: 'a', keyPath: 'a.key' }, 'keyPath'],
    ['flag-read', { path: 'etcd.yaml', in: 'manifest', flags: ['x'] }, 'path'],
    ['ssh-exec', { command: 'true', creates: 'done' }, 'creates'],
    ['ssh-exec', { command: 'true', cwd: 'tmp' }, 'cwd'],
    ['static-pod-hold', { action: 'hold', container: 'etcd', manifest: 'etcd.yaml' }, 'manifest'],
    ['cert-check', { paths: ['apiserver.crt'] }, 'paths[0]'],
    ['cert-reissue', { ca: 'k', set: 'kubeadm-etcd', pkiDir: 'pki' }, 'pkiDir'],
    ['etcd-snapshot', { cacert: '/a', cert: '/b', key: 'c.key' }, 'key'],
    ['kube-wait', { kubeconfig: 'admin.conf' }, 'kubeconfig'],
    ['file-patch', { path: '/etc/a', edits: [{ op: 'kubeconfig-ca', ca: { hostFile: 'ca.crt' } }] }, 'edits[0].ca.hostFile'],
  ];
  it.each(cases)('%s refuses a relative %#', (type, params, where) => {
    expect(problems(type, params)).toEqual([`${where}: ${RELATIVE}`]);
  });

  it.each([['a newline', '/var/lib/kcarun/snap\nshots'], ['a tab', '/etc/kubernetes/\tpki'], ['DEL', '/etc/\x7f']])('refuses a path with %s in it', (_what, path) => {
    expect(problems('etcd-snapshot', { cacert: '/a', cert: '/b', key: '/c', remoteDir: path })).toEqual([`remoteDir: ${RELATIVE}`]);
    expect(problems('file-upload', { dest: path, content: 'x' })).toEqual([`dest: ${RELATIVE}`]);
  });

  it('accepts absolute paths (and local-exec keeps relative ones: relative to where kcarun runs)', () => {
    expect(problems('file-upload', { dest: '/etc/kubernetes/pki/ca.crt', content: 'x' })).toEqual([]);
    expect(problems('ssh-exec', { command: 'true', cwd: '/tmp', creates: '/tmp/done' })).toEqual([]);
    expect(problems('local-exec', { command: 'true', cwd: 'out', creates: 'out/done' })).toEqual([]);
    // A kubeconfig's own file reference is resolved against the kubeconfig's folder: relative is fine.
    expect(problems('file-patch', { path: '/etc/a', edits: [{ op: 'kubeconfig-ca', ca: { path: 'pki/ca.crt' } }] })).toEqual([]);
  });
});

describe('an artifact path stays inside artifacts/', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['file-fetch', { src: '/etc/hostname', artifact: '../../outside' }, 'artifact'],
    ['file-fetch', { src: '/etc/hostname', artifact: 'hosts/../../x' }, 'artifact'],
    ['file-fetch', { src: '/etc/hostname', artifact: '..' }, 'artifact'],
    ['file-upload', { dest: '/etc/a', artifact: '/etc/shadow' }, 'artifact'],
    ['cert-install', { path: '/etc/a.pem', artifact: 'a', keyArtifact: 'ca/..' }, 'keyArtifact'],
    ['ca-bundle', { ca: 'etcd-ca', output: '../bundle.crt' }, 'output'],
    ['ca-generate', { name: 'etcd-ca', oldCa: { artifact: '../old.crt' } }, 'oldCa.artifact'],
    ['flag-read', { path: '/etc/a', in: 'manifest', flags: ['x'], mustHoldOneOf: ['ca/../../k.crt'] }, 'mustHoldOneOf[0]'],
  ];
  it.each(cases)('%s refuses an escape %#', (type, params, where) => {
    expect(problems(type, params)).toEqual([`${where}: ${ESCAPE}`]);
  });

  it('accepts names inside it, dots in names included', () => {
    expect(problems('file-fetch', { src: '/etc/hostname', artifact: 'hosts/cp1/..hidden/a..b' })).toEqual([]);
    expect(problems('ca-bundle', { ca: 'etcd-ca', output: 'ca/etcd-ca-bundle.crt' })).toEqual([]);
  });
});
