/**
 * file-patch's new setting targets over a real sshd: an etcd YAML config file, an environment
 * file and a KubeletConfiguration, each edited by the same setting name the stock stages use. The
 * etcd config is then read by a real etcd: the trust set by flag spelling is the trust etcd uses.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { filePatchTask } from '../../../src/tasks/file-patch/index.js';
import { useRemoteEnv } from './remote-env.js';

const fixture = (name: string) => readFileSync(new URL(`../../edit/fixtures/${name}`, import.meta.url), 'utf8');
type Params = Parameters<typeof filePatchTask.run>[0]['params'];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

/** An old and a new CA, a server certificate from the old CA, a client certificate from the new one. */
function makePki(dir: string): void {
  for (const ca of ['old-ca', 'new-ca']) {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-days', '2', '-subj', `/CN=${ca}`], dir);
  }
  const leaf = (name: string, ca: string, ext: string) => {
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
    execFileSync('sh', ['-c', `printf '%s\\n' '${ext}' > ${name}.ext`], { cwd: dir });
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`], dir);
  };
  leaf('server', 'old-ca', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth');
  leaf('client', 'new-ca', 'extendedKeyUsage=clientAuth');
  // ca.crt: the live trust file, the old CA alone (what the fixture's config names).
  execFileSync('sh', ['-c', 'cp old-ca.crt ca.crt && cat new-ca.crt old-ca.crt > ca-bundle.crt'], { cwd: dir });
}

describe('file-patch set-flag in an etcd config file, an environment file and a KubeletConfiguration, over SSH', () => {
  const env = useRemoteEnv();
  const run = async (params: Params) => filePatchTask.run(await env.ctx(params));

  it('etcd-config: flag spellings land on etcd keys (one line each in the diff), and a real etcd then trusts a new-CA client', async () => {
    const dir = env.remoteDir;
    makePki(dir);
    const [clientPort, peerPort] = [await freePort(), await freePort()];
    const path = join(dir, 'etcd.conf.yml');
    await writeFile(
      path,
      fixture('etcd-config.yml')
        .replaceAll('/etc/etcd/pki/', `${dir}/`)
        .replace('/var/lib/etcd', join(dir, 'data'))
        .replaceAll('https://10.0.0.11:2379', `https://127.0.0.1:${clientPort}`)
        .replace('peer.crt', 'server.crt')
        .replace('peer.key', 'server.key') +
        `listen-peer-urls: http://127.0.0.1:${peerPort}\ninitial-advertise-peer-urls: http://127.0.0.1:${peerPort}\ninitial-cluster: etcd1=http://127.0.0.1:${peerPort}\n`,
    );
    const before = await readFile(path, 'utf8');
    const etcdLog: string[] = [];
    /** etcdctl endpoint health with a client certificate: `client` (new CA) or `server` (old CA, has clientAuth). */
    const health = (as: 'client' | 'server' = 'client'): boolean => {
      try {
        execFileSync('etcdctl', ['--endpoints', `https://127.0.0.1:${clientPort}`, '--cacert', join(dir, 'old-ca.crt'), '--cert', join(dir, `${as}.crt`), '--key', join(dir, `${as}.key`), '--dial-timeout=2s', '--command-timeout=3s', 'endpoint', 'health'], { stdio: 'pipe' });
        return true;
      } catch {
        return false;
      }
    };
    const startEtcd = async (): Promise<ChildProcess> => {
      const child = spawn('etcd', ['--config-file', path], { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr!.on('data', (d: Buffer) => etcdLog.push(d.toString()));
      // Up when a member of the old CA is served (its certificate has clientAuth); health() then
      // says whether the new CA's client is trusted.
      for (let i = 0; i < 100 && !((await accepts(clientPort)) && health('server')); i++) await new Promise((r) => setTimeout(r, 100));
      return child;
    };
    const stopEtcd = async (child: ChildProcess) => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    };

    let etcd = await startEtcd();
    try {
      expect(health('server'), etcdLog.join('').slice(-2000)).toBe(true); // etcd is up and serving...
      expect(health()).toBe(false); // ...and does not trust the new CA yet
    } finally {
      await stopEtcd(etcd);
    }

    const result = await run({
      path,
      edits: [
        { op: 'set-flag', in: 'etcd-config', flag: 'trusted-ca-file', value: join(dir, 'ca-bundle.crt') },
        { op: 'set-flag', in: 'etcd-config', flag: '--peer-trusted-ca-file', value: join(dir, 'ca-bundle.crt') },
      ],
    });
    expect(result.changed).toBe(true);
    expect(result.summary).toContain(`client-transport-security.trusted-ca-file=${join(dir, 'ca-bundle.crt')}`);
    const after = await readFile(path, 'utf8');
    const changed = before.split('\n').map((l, i) => [l, after.split('\n')[i]]).filter(([a, b]) => a !== b);
    expect(changed).toEqual([
      [`  trusted-ca-file: "${dir}/ca.crt"`, `  trusted-ca-file: "${dir}/ca-bundle.crt"`],
      [`  trusted-ca-file: '${dir}/ca.crt'`, `  trusted-ca-file: '${dir}/ca-bundle.crt'`],
    ]);
    expect((await run({ path, edits: [{ op: 'set-flag', in: 'etcd-config', flag: 'trusted-ca-file', value: join(dir, 'ca-bundle.crt') }] })).changed).toBe(false);

    etcd = await startEtcd();
    try {
      expect(health()).toBe(true);
      expect(health('server')).toBe(true);
    } finally {
      await stopEtcd(etcd);
    }
  }, 60_000);

  it('env-file: ETCD_* variables from flag names, quoting kept; undo restores the file', async () => {
    const path = join(env.remoteDir, 'etcd.env');
    const original = fixture('etcd.env');
    await writeFile(path, original);
    const r = await run({
      path,
      edits: [
        { op: 'set-flag', in: 'env-file', flag: 'trusted-ca-file', value: '/etc/ssl/etcd/ssl/ca-bundle.pem' },
        { op: 'set-flag', in: 'env-file', flag: 'peer-trusted-ca-file', value: '/etc/ssl/etcd/ssl/ca-bundle.pem' },
      ],
    });
    expect(r.summary).toBe(`${path}: ETCD_TRUSTED_CA_FILE=/etc/ssl/etcd/ssl/ca-bundle.pem, ETCD_PEER_TRUSTED_CA_FILE=/etc/ssl/etcd/ssl/ca-bundle.pem`);
    expect(r.diff).toContain('-ETCD_TRUSTED_CA_FILE="/etc/ssl/etcd/ssl/ca.pem"\n+ETCD_TRUSTED_CA_FILE="/etc/ssl/etcd/ssl/ca-bundle.pem"');
    expect(r.diff).toContain("+ETCD_PEER_TRUSTED_CA_FILE='/etc/ssl/etcd/ssl/ca-bundle.pem'");
    expect(await readFile(path, 'utf8')).toBe(
      original.replace('"/etc/ssl/etcd/ssl/ca.pem"', '"/etc/ssl/etcd/ssl/ca-bundle.pem"').replace("'/etc/ssl/etcd/ssl/ca.pem'", "'/etc/ssl/etcd/ssl/ca-bundle.pem'"),
    );
    await filePatchTask.rollback!(await env.ctx({ path, edits: [] }), r.undo);
    expect(await readFile(path, 'utf8')).toBe(original);
  });

  it('kubelet-config: client-ca-file sets authentication.x509.clientCAFile; dry run writes nothing', async () => {
    const path = join(env.remoteDir, 'config.yaml');
    const original = fixture('kubelet-config.yaml');
    await writeFile(path, original);
    const params: Params = { path, edits: [{ op: 'set-flag', in: 'kubelet-config', flag: 'client-ca-file', value: '/etc/kubernetes/pki/ca-bundle.crt' }] };
    const plan = await filePatchTask.dryRun!(await env.ctx(params));
    expect(plan.summary).toBe(`would patch ${path}: authentication.x509.clientCAFile=/etc/kubernetes/pki/ca-bundle.crt`);
    expect(await readFile(path, 'utf8')).toBe(original);
    await run(params);
    expect(await readFile(path, 'utf8')).toBe(original.replace('clientCAFile: /etc/kubernetes/pki/ca.crt', 'clientCAFile: /etc/kubernetes/pki/ca-bundle.crt'));
    await expect(run({ path, edits: [{ op: 'set-flag', in: 'kubelet-config', flag: 'no-such-flag', value: 'x' }] })).rejects.toThrow(/no KubeletConfiguration field known for the kubelet flag --no-such-flag/);
  });
});
