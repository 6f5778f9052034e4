import { describe, expect, it } from 'vitest';
import { componentOfArgv, parseEnvFile, resolveComponent, unitEnvironment, unitExecStart, type HostConfigFiles } from '../../src/discover/components.js';

const files = (over: Partial<HostConfigFiles> & { contents?: Record<string, string> } = {}): HostConfigFiles => ({
  manifests: over.manifests ?? [],
  units: over.units ?? [],
  read: (p) => over.contents?.[p],
});

const ETCD_UNIT = `[Unit]
Description=etcd
[Service]
EnvironmentFile=/etc/etcd.env
EnvironmentFile=-/etc/etcd/optional.env
Environment="ETCD_NAME=node1" ETCD_DATA_DIR=/var/lib/etcd
ExecStart=/usr/local/bin/etcd \\
  --peer-trusted-ca-file=/etc/ssl/etcd/ssl/ca.pem
`;

describe('which component a command line runs', () => {
  it('takes argv[0], or the script after an interpreter, never a flag value', () => {
    expect(componentOfArgv(['/usr/local/bin/etcd', '--name=a'])).toEqual({ name: 'etcd', argsFrom: 1 });
    expect(componentOfArgv(['node', '/tmp/lab/bin/.lab-components.mjs', 'kube-apiserver', '--x=1'])).toEqual({ name: 'kube-apiserver', argsFrom: 3 });
    expect(componentOfArgv(['sh', '/usr/local/bin/kubelet', '--config=/x'])).toEqual({ name: 'kubelet', argsFrom: 2 });
    expect(componentOfArgv(['grep', '-l', 'etcd'])).toBeUndefined();
    expect(componentOfArgv(['sh', '-c', 'etcd'])).toBeUndefined();
    // a shell script that supervises a component (the lab's systemd stand-in on the real kubeadm nodes)
    expect(componentOfArgv(['/bin/bash', '/usr/local/bin/kcarun-lab-unit-supervisor', 'kubelet'])).toBeUndefined();
  });
});

describe('systemd units', () => {
  it('reads ExecStart across continuations and the last non-empty one of the drop-ins', () => {
    expect(unitExecStart({ path: '/etc/systemd/system/etcd.service', text: ETCD_UNIT })).toEqual(['/usr/local/bin/etcd', '--peer-trusted-ca-file=/etc/ssl/etcd/ssl/ca.pem']);
    const dropIn = { path: '/etc/systemd/system/etcd.service.d/10.conf', text: '[Service]\nExecStart=\nExecStart=/usr/bin/etcd "--name=a b"\n' };
    expect(unitExecStart({ path: '/etc/systemd/system/etcd.service', text: ETCD_UNIT, dropIns: [dropIn] })).toEqual(['/usr/bin/etcd', '--name=a b']);
  });
  it("expands $VAR (its words) and ${VAR} (in place) from the unit's environment, as kubespray's kubelet.service needs", () => {
    const unit = {
      path: '/etc/systemd/system/kubelet.service',
      text: '[Service]\nEnvironment=KUBELET_PORT=--port=1 KUBE_LOG_LEVEL=--v=9\nEnvironmentFile=-/etc/kubernetes/kubelet.env\nEnvironmentFile=-/etc/missing.env\nExecStart=/usr/local/bin/kubelet \\\n\t\t$KUBE_LOG_LEVEL \\\n\t\t$KUBELET_ARGS \\\n\t\t$UNSET \\\n\t\t--root-dir=${ROOT}/kubelet $KUBELET_PORT\n',
    };
    const env = 'KUBE_LOG_LEVEL="--v=2"\nKUBELET_ARGS="--config=/etc/kubernetes/kubelet-config.yaml \\\n--kubeconfig=/etc/kubernetes/kubelet.conf"\nROOT=/var/lib\n';
    const read = (p: string) => (p === '/etc/kubernetes/kubelet.env' ? env : undefined);
    // The environment file overrides Environment= (systemd.exec(5)); an unset variable gives no word.
    expect(unitExecStart(unit, read)).toEqual(['/usr/local/bin/kubelet', '--v=2', '--config=/etc/kubernetes/kubelet-config.yaml', '--kubeconfig=/etc/kubernetes/kubelet.conf', '--root-dir=/var/lib/kubelet', '--port=1']);
    // Without a reader the words stay as written.
    expect(unitExecStart(unit)).toContain('$KUBELET_ARGS');
  });
  it('lists environment files (optional ones marked) and Environment= assignments with their file', () => {
    expect(unitEnvironment({ path: '/u/etcd.service', text: ETCD_UNIT })).toEqual({
      files: [{ path: '/etc/etcd.env', optional: false }, { path: '/etc/etcd/optional.env', optional: true }],
      assignments: { ETCD_NAME: { value: 'node1', file: '/u/etcd.service' }, ETCD_DATA_DIR: { value: '/var/lib/etcd', file: '/u/etcd.service' } },
    });
    expect(parseEnvFile('# kubespray\nETCD_CERT_FILE=/etc/ssl/etcd/ssl/member-n1.pem\nexport ETCD_KEY_FILE="/k.pem"\n\nnot a line\n')).toEqual({ ETCD_CERT_FILE: '/etc/ssl/etcd/ssl/member-n1.pem', ETCD_KEY_FILE: '/k.pem' });
  });
});

describe('etcd precedence: config file over flags over environment', () => {
  const unit = { path: '/etc/systemd/system/etcd.service', text: ETCD_UNIT };
  const argv = ['/usr/local/bin/etcd', '--peer-trusted-ca-file=/etc/ssl/etcd/ssl/ca.pem'];

  it('without a config file: a flag beats its ETCD_* variable, and each variable names the file it comes from', () => {
    const c = resolveComponent(
      {
        pid: 7,
        argv,
        env: { ETCD_PEER_TRUSTED_CA_FILE: '/ignored.pem', ETCD_TRUSTED_CA_FILE: '/etc/ssl/etcd/ssl/ca.pem', ETCD_NAME: 'node1', ETCD_STRAY: 'x', PATH: '/bin' },
        cgroup: '0::/system.slice/etcd.service\n',
      },
      files({ units: [unit], contents: { '/etc/etcd.env': 'ETCD_TRUSTED_CA_FILE=/etc/ssl/etcd/ssl/ca.pem\n' } }),
    )!;
    expect(c.flagsIn).toBe('unit');
    expect(c.restart).toEqual({ method: 'systemd', unit: 'etcd' });
    expect(c.settings['peer-trusted-ca-file']).toEqual({ name: 'peer-trusted-ca-file', value: '/etc/ssl/etcd/ssl/ca.pem', source: { kind: 'unit-flag', file: unit.path, key: '--peer-trusted-ca-file' } });
    expect(c.settings['trusted-ca-file']!.source).toEqual({ kind: 'env-file', file: '/etc/etcd.env', key: 'ETCD_TRUSTED_CA_FILE' });
    expect(c.settings['name']!.source).toEqual({ kind: 'unit-environment', file: unit.path, key: 'ETCD_NAME' });
    expect(c.warnings).toEqual(['etcd: ETCD_STRAY is in its environment but in no EnvironmentFile or Environment= of its unit']);
  });

  it('with ETCD_CONFIG_FILE: the YAML alone counts, its nested transport keys mapped to flag names', () => {
    const yaml = [
      'name: node1',
      'data-dir: /var/lib/etcd',
      'client-transport-security:',
      '  cert-file: /etc/etcd/pki/server.crt',
      '  trusted-ca-file: /etc/etcd/pki/ca.crt',
      'peer-transport-security:',
      '  cert-file: /etc/etcd/pki/peer.crt',
      '  trusted-ca-file: /etc/etcd/pki/peer-ca.crt',
      '',
    ].join('\n');
    const c = resolveComponent(
      { pid: 8, argv, env: { ETCD_CONFIG_FILE: '/etc/etcd/etcd.yaml', ETCD_TRUSTED_CA_FILE: '/ignored.pem' }, cgroup: '' },
      files({ units: [{ ...unit, text: `${ETCD_UNIT}Environment=ETCD_CONFIG_FILE=/etc/etcd/etcd.yaml\n` }], contents: { '/etc/etcd/etcd.yaml': yaml, '/etc/etcd.env': '' } }),
    )!;
    expect(c.settings['trusted-ca-file']).toEqual({ name: 'trusted-ca-file', value: '/etc/etcd/pki/ca.crt', source: { kind: 'etcd-config', file: '/etc/etcd/etcd.yaml', key: 'client-transport-security.trusted-ca-file' } });
    expect(c.settings['peer-trusted-ca-file']!.source).toEqual({ kind: 'etcd-config', file: '/etc/etcd/etcd.yaml', key: 'peer-transport-security.trusted-ca-file' });
    expect(c.settings['peer-cert-file']!.value).toBe('/etc/etcd/pki/peer.crt');
    expect(c.settings['config-file']!.source).toEqual({ kind: 'unit-environment', file: unit.path, key: 'ETCD_CONFIG_FILE' });
    expect(c.precedence).toBe('config file /etc/etcd/etcd.yaml (etcd then ignores flags and ETCD_* variables: 1 flag(s), 1 variable(s) ignored)');
  });
});

describe('static pods and the kubelet', () => {
  const manifest = {
    path: '/etc/kubernetes/manifests/kube-apiserver.yaml',
    text: 'apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: kube-apiserver\n    command: [kube-apiserver, --client-ca-file=/etc/kubernetes/pki/ca.crt]\n',
  };
  it('puts flags in the manifest whose command matches, restarted as a static pod', () => {
    const c = resolveComponent({ pid: 9, argv: ['kube-apiserver', '--client-ca-file=/etc/kubernetes/pki/ca.crt'], env: {}, cgroup: '0::/kubepods/burstable/pod1/abc\n' }, files({ manifests: [manifest] }))!;
    expect(c).toMatchObject({ flagsIn: 'manifest', configFile: manifest.path, restart: { method: 'static-pod', container: 'kube-apiserver' }, warnings: [] });
  });
  it('says so when the running flags differ from the file (edited, not restarted)', () => {
    const c = resolveComponent({ pid: 9, argv: ['kube-apiserver', '--client-ca-file=/old.crt'], env: {}, cgroup: '' }, files({ manifests: [manifest] }))!;
    expect(c.settings['client-ca-file']!.value).toBe('/old.crt');
    expect(c.warnings[0]).toContain('its command line differs from /etc/kubernetes/manifests/kube-apiserver.yaml');
  });
  it('kubelet: a flag beats its KubeletConfiguration field', () => {
    const config = 'kind: KubeletConfiguration\ntlsCertFile: /var/lib/kubelet/pki/kubelet.crt\nauthentication:\n  x509:\n    clientCAFile: /etc/kubernetes/pki/ca.crt\n';
    const c = resolveComponent(
      { pid: 10, argv: ['/usr/bin/kubelet', '--config=/var/lib/kubelet/config.yaml', '--tls-cert-file=/flag.crt'], env: {}, cgroup: '' },
      files({ contents: { '/var/lib/kubelet/config.yaml': config } }),
    )!;
    expect(c.settings['tls-cert-file']!.value).toBe('/flag.crt');
    expect(c.settings['client-ca-file']!.source).toEqual({ kind: 'kubelet-config', file: '/var/lib/kubelet/config.yaml', key: 'authentication.x509.clientCAFile' });
    expect(c.flagsIn).toBe('process');
    expect(c.warnings).toEqual(['kubelet (pid 10): no static pod manifest or systemd unit holds its flags; where to change its settings is unknown']);
  });
});

describe('restart commands made from host file names (hostile input)', () => {
  it("quotes an init script's path: a file named `/etc/init.d/etcd;touch${IFS}F;` restarts nothing else when the written command runs in a shell", async () => {
    const { mkdtempSync, existsSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { spawnSync } = await import('node:child_process');
    const work = mkdtempSync('/tmp/kcarun-discover-quote-');
    const marker = join(work, 'pwned');
    const path = `/etc/init.d/etcd;touch\${IFS}${marker};`;
    const c = resolveComponent(
      { pid: 7, argv: ['/usr/bin/etcd', '--config-file', '/etc/etcd/etcd.conf.yml'], env: {}, cgroup: '0::/' },
      { ...files(), initScripts: [{ path, text: 'exec /usr/bin/etcd --config-file /etc/etcd/etcd.conf.yml' }] },
    );
    expect(c?.flagsIn).toBe('init-script');
    expect(c?.restart).toEqual({ method: 'command', command: `'${path}' restart` });
    // The shell sees one (missing) file name, nothing to run after it.
    const r = spawnSync('bash', ['-c', (c!.restart as { command: string }).command], { encoding: 'utf8' });
    expect(r.status).toBe(127);
    expect(existsSync(marker)).toBe(false);
    rmSync(work, { recursive: true, force: true });
  });
});
