/**
 * `--dry-run` as a faithful simulation, against a real OpenSSH server: read-only work runs for
 * real and registers its output (so a later `when:` decides as in the run), local artifacts are
 * made in a throwaway copy of the state dir, host changes are only planned — exact diffs, each
 * against what the earlier planned steps would have left — and nothing on the host or in the state
 * dir changes. The run ends with a summary per host and exit 0, and never speaks of rollback.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { jsonEvents, runCli } from '../helpers/cli.js';
import { startSshd, type SshdHarness } from '../helpers/sshd.js';
import { makeTempDir } from '../helpers/task-context.js';
import { opensslCa } from '../pki/openssl.js';

let sshd: SshdHarness;
let dir: string;
let cleanup: () => Promise<void>;
/** The "remote" host's files (the sshd is this machine): a CA, a manifest, a version file. */
let remote: string;

beforeAll(async () => {
  sshd = await startSshd({ name: 'node1' });
  ({ dir, cleanup } = await makeTempDir('kcarun-dry-run-'));
}, 60_000);
afterAll(async () => {
  await sshd?.stop();
  await cleanup?.();
});

beforeEach(async () => {
  remote = await makeTempDirIn(dir, 'remote');
  await opensslCa(remote, 'ca', '/CN=test-ca', 'ec', 200);
  await writeFile(
    join(remote, 'apiserver.yaml'),
    ['apiVersion: v1', 'kind: Pod', 'spec:', '  containers:', '  - name: kube-apiserver', '    command:', '    - kube-apiserver', `    - --client-ca-file=${remote}/ca.crt`, '    - --v=2', ''].join('\n'),
  );
  await writeFile(join(remote, 'version'), 'v1.30.2\n');
});

let counter = 0;
async function makeTempDirIn(parent: string, name: string): Promise<string> {
  const d = join(parent, `${name}-${++counter}`);
  await mkdir(d, { recursive: true });
  return d;
}

async function inventory(): Promise<string> {
  const file = join(dir, 'inventory.yaml');
  await writeFile(
    file,
    [
      'apiVersion: kcarun/v1',
      'kind: Inventory',
      'hosts:',
      `  node1: { address: "${sshd.address}", port: ${sshd.port}, user: root, ssh: { identityFile: "${sshd.identityFile}", knownHostsFile: "${sshd.knownHostsFile}", useAgent: false } }`,
      'groups:',
      '  nodes: { hosts: [node1] }',
      'vars:',
      `  pki: "${remote}"`,
      '  batch: "50%"',
      '',
    ].join('\n'),
  );
  return file;
}

/** sha256 of every file under a folder: "did anything change?" */
async function sums(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.set(p, `${createHash('sha256').update(await readFile(p)).digest('hex')} ${(await stat(p)).mode.toString(8)}`);
    }
  };
  await walk(root);
  return out;
}

/**
 * A user's own rotation of one CA, in the shape of the stock playbooks: detect (ca-status and a
 * read-only command, registered) -> new CA and bundle -> trust (upload the bundle, two patches of
 * one manifest, a restart, a gate) -> switch (the new CA over the old) -> finalize, decided by a
 * second ca-status that must see what the switch would have done.
 */
const USER_PLAYBOOK = `apiVersion: kcarun/v1
kind: Playbook
metadata: { name: my-rotation, version: 1.0.0 }
stages:
  - name: detect
    hosts: local
    tasks:
      - { name: my CA, type: ca-status, with: { name: my-ca, host: node1, cert: "{{ pki }}/ca.crt", bundle: "{{ pki }}/ca-bundle.crt", rotateWithinDays: 365 }, register: my_ca }
      - name: cluster version
        type: ssh-exec
        delegateTo: node1
        with: { command: "cat {{ pki }}/version", readOnly: true }
        register: version
  - name: prepare
    hosts: local
    when: my_ca.rotate
    tasks:
      - { name: new CA, type: ca-generate, with: { name: my-ca, oldCa: { artifact: ca/my-ca-old.crt } } }
      - { name: bundle, type: ca-bundle, with: { ca: my-ca, old: { artifact: ca/my-ca-old.crt } } }
  - name: trust
    hosts: nodes
    serial: "{{ batch }}"
    when: my_ca.rotate and version.stdout contains "v1.30"
    tasks:
      - { name: upload the bundle, type: file-upload, with: { artifact: ca/my-ca-bundle.crt, dest: "{{ pki }}/ca-bundle.crt", mode: "0644" } }
      - name: apiserver trusts the bundle
        type: file-patch
        with: { path: "{{ pki }}/apiserver.yaml", edits: [{ op: set-flag, in: manifest, flag: client-ca-file, value: "{{ pki }}/ca-bundle.crt" }] }
      - name: apiserver verbosity
        type: file-patch
        with: { path: "{{ pki }}/apiserver.yaml", edits: [{ op: set-flag, in: manifest, flag: v, value: "4" }] }
      - { name: restart apiserver, type: service-restart, with: { method: command, command: "touch {{ pki }}/restarted" } }
      - { name: apiserver healthy, type: wait-healthy, with: { probes: [{ kind: command, command: "true" }] } }
      - name: a command whose output only the run knows
        type: ssh-exec
        with: { command: "date +%s > {{ pki }}/stamp" }
        register: stamp
      - name: reads the unknown output
        type: assert
        when: stamp.rc == 0
        with: { that: "stamp.stdout != ''" }
  - name: switch
    hosts: nodes
    when: my_ca.rotate
    tasks:
      - { name: the new CA, type: file-upload, with: { artifact: ca/my-ca.crt, dest: "{{ pki }}/ca.crt", mode: "0644" } }
  - name: finalize-detect
    hosts: local
    tasks:
      - { name: my CA again, type: ca-status, with: { name: my-ca, host: node1, cert: "{{ pki }}/ca.crt", bundle: "{{ pki }}/ca-bundle.crt" }, register: my_final }
  - name: finalize
    hosts: nodes
    when: my_final.finalize
    tasks:
      - name: apiserver trusts the new CA alone
        type: file-patch
        with: { path: "{{ pki }}/apiserver.yaml", edits: [{ op: set-flag, in: manifest, flag: client-ca-file, value: "{{ pki }}/ca.crt" }] }
`;

describe('kcarun --dry-run', () => {
  it("dry-runs a user's playbook through: registered outputs feed later when:s, diffs follow each other, nothing changes", async () => {
    const inv = await inventory();
    const pb = join(dir, 'my-rotation.yaml');
    await writeFile(pb, USER_PLAYBOOK);
    const stateDir = join(dir, `state-${counter}`);
    const hostBefore = await sums(remote);

    const res = await runCli([pb, '-i', inv, '--dry-run', '--output', 'json', '--state-dir', stateDir], { cwd: dir });
    expect(res.code, res.stdout.slice(-3000) + res.stderr).toBe(0);
    const events = jsonEvents(res.stdout);

    // Every stage ran: the when:s read registered outputs (ca-status's real answer, the read-only
    // command's real stdout, and at finalize the status as the switch would leave it).
    const stages = Object.fromEntries(events.filter((e) => e.event === 'stage-end').map((e) => [e.stage, e.status]));
    expect(stages).toEqual({ detect: 'ok', prepare: 'ok', trust: 'ok', switch: 'ok', 'finalize-detect': 'ok', finalize: 'ok' });
    const ends = events.filter((e) => e.event === 'task-end');
    expect(ends.filter((e) => e.status === 'failed' || e.status === 'skipped').map((e) => e.task)).toEqual([]);
    const end = (task: string) => ends.find((e) => e.task === task)!;
    expect(end('my CA').summary).toMatch(/my-ca: due: \d+ days left/);
    expect(end('cluster version').summary).toMatch(/read-only/);
    expect(end('new CA').summary).toMatch(/would create CA my-ca: CN=test-ca \(rotated/);
    expect(end('reads the unknown output').summary).toBe('conditions hold as far as a dry run can tell (stamp.stdout: known only once the run has it)');
    expect(end('my CA again').summary).toMatch(/rotation under way \(switched; bundle present\)/);

    // The bundle upload shows the real bundle by its certificates; the second patch diffs against
    // the first's result; the finalize patch against both.
    expect(end('upload the bundle').diff).toMatch(/\+ subject CN=test-ca \(rotated [^)]*\), issuer CN=test-ca \(rotated/);
    expect(end('upload the bundle').diff).toMatch(/\+ subject CN=test-ca, issuer CN=test-ca,/);
    expect(end('apiserver trusts the bundle').diff).toContain(`+    - --client-ca-file=${remote}/ca-bundle.crt`);
    expect(end('apiserver verbosity').diff).toContain(`     - --client-ca-file=${remote}/ca-bundle.crt`);
    expect(end('apiserver verbosity').diff).toContain('+    - --v=4');
    expect(end('apiserver trusts the new CA alone').diff).toContain(`-    - --client-ca-file=${remote}/ca-bundle.crt`);
    expect(end('apiserver trusts the new CA alone').diff).toContain('     - --v=4');
    expect(end('the new CA').diff).toMatch(/- subject CN=test-ca, .*\n\+ subject CN=test-ca \(rotated/);

    // One event per planned change: host, path, kind, diff stats; restarts and commands too.
    const changes = events.filter((e) => e.event === 'planned-change');
    expect(changes).toContainEqual(expect.objectContaining({ host: 'node1', path: `${remote}/ca-bundle.crt`, kind: 'create', added: 2, removed: 0 }));
    expect(changes).toContainEqual(expect.objectContaining({ host: 'node1', path: `${remote}/apiserver.yaml`, kind: 'modify', added: 1, removed: 1 }));
    expect(changes).toContainEqual(expect.objectContaining({ host: 'node1', path: `${remote}/ca.crt`, kind: 'modify', added: 1, removed: 1 }));
    expect(changes).toContainEqual(expect.objectContaining({ host: 'node1', kind: 'restart', component: `touch ${remote}/restarted` }));
    expect(changes).toContainEqual(expect.objectContaining({ host: 'node1', kind: 'command', command: `date +%s > ${remote}/stamp` }));

    // The summary per host: files that would change, restarts per component.
    const summary = events.find((e) => e.event === 'plan-summary') as unknown as { complete: boolean; hosts: { host: string; files: { path: string; kind: string; steps: number }[]; restarts: { component: string; count: number }[]; gates: number }[] };
    expect(summary.complete).toBe(true);
    const node1 = summary.hosts.find((h) => h.host === 'node1')!;
    expect(node1.files.map((f) => [f.path, f.kind, f.steps])).toEqual([
      [`${remote}/apiserver.yaml`, 'modify', 3],
      [`${remote}/ca-bundle.crt`, 'create', 1],
      [`${remote}/ca.crt`, 'modify', 1],
    ]);
    expect(node1.restarts).toEqual([{ component: `touch ${remote}/restarted`, count: 1 }]);
    expect(node1.gates).toBe(1);
    expect(events.at(-1)).toMatchObject({ event: 'run-end', status: 'planned', exitCode: 0 });
    expect(res.stdout).not.toMatch(/roll(ed)? ?back|--resume/i);

    // Nothing changed: not the host, and not the real state dir (the CA was made in a scratch copy).
    expect(await sums(remote)).toEqual(hostBefore);
    expect(existsSync(join(stateDir, 'artifacts', 'ca', 'my-ca.crt'))).toBe(false);
    expect(existsSync(join(stateDir, 'artifacts', 'ca', 'my-ca-old.crt'))).toBe(false);
    expect(existsSync(join(stateDir, 'journal.jsonl'))).toBe(false);
    expect(existsSync(join(stateDir, 'report'))).toBe(false);
  }, 120_000);

  it('ends with a summary for people, and a dry run that would stop says where, without rollback or --resume', async () => {
    const inv = await inventory();
    const pb = join(dir, 'my-rotation.yaml');
    await writeFile(pb, USER_PLAYBOOK);
    const ok = await runCli([pb, '-i', inv, '--dry-run', '--state-dir', join(dir, `state-${counter}`)], { cwd: dir });
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toContain('Plan summary:');
    expect(ok.stdout).toMatch(new RegExp(`node1: 3 file\\(s\\) would change; restarts: touch ${remote}/restarted x1; 1 health gate`));
    expect(ok.stdout).toMatch(/dry run complete in .*: \d+ step\(s\) would change something, 0 would fail/);

    // The cluster version is not what the playbook expects: the real run would stop at its assert.
    await writeFile(join(remote, 'version'), 'v1.29.0\n');
    const stopping = pb.replace(/\.yaml$/, '-assert.yaml');
    await writeFile(stopping, USER_PLAYBOOK.replace('  - name: prepare\n', '  - name: gate\n    hosts: local\n    tasks:\n      - { name: supported version, type: assert, with: { that: "version.stdout contains \\"v1.30\\"", message: "unsupported version" } }\n  - name: prepare\n'));
    const res = await runCli([stopping, '-i', inv, '--dry-run', '--state-dir', join(dir, `state-${counter}`)], { cwd: dir });
    expect(res.code).toBe(1);
    expect(res.stdout).toContain('unsupported version');
    expect(res.stdout).toMatch(/the run would stop at stage "gate"/);
    expect(res.stdout).toContain('Plan summary (up to where the run would stop):');
    expect(res.stdout + res.stderr).not.toMatch(/roll(ed)? ?back|--resume/i);
  }, 120_000);

  it('the stock rotate-ca gets past detect (registered CA status feeds every when:) and preflight checks for real', async () => {
    // One fake node: the three CAs where the layout expects them (paths overridden), nothing else.
    await opensslCa(remote, 'etcd-ca', '/CN=etcd-ca', 'ec', 200);
    await opensslCa(remote, 'front-proxy-ca', '/CN=front-proxy-ca', 'ec', 200);
    const inv = join(dir, 'stock-inventory.yaml');
    await writeFile(
      inv,
      [
        'apiVersion: kcarun/v1',
        'kind: Inventory',
        'hosts:',
        `  cp1: { address: "${sshd.address}", port: ${sshd.port}, user: root, ssh: { identityFile: "${sshd.identityFile}", knownHostsFile: "${sshd.knownHostsFile}", useAgent: false } }`,
        'groups:',
        '  etcd: { hosts: [cp1] }',
        '  control_plane: { hosts: [cp1] }',
        '  workers: { hosts: [] }',
        'vars:',
        `  k8s_ca_cert: "${remote}/ca.crt"`,
        `  k8s_ca_bundle: "${remote}/ca-bundle.crt"`,
        `  etcd_ca_cert: "${remote}/etcd-ca.crt"`,
        `  etcd_ca_bundle: "${remote}/etcd-ca-bundle.crt"`,
        `  front_proxy_ca_cert: "${remote}/front-proxy-ca.crt"`,
        `  front_proxy_ca_bundle: "${remote}/front-proxy-ca-bundle.crt"`,
        '',
      ].join('\n'),
    );
    const hostBefore = await sums(remote);
    const playbook = join(import.meta.dirname, '..', '..', 'playbooks', 'rotate-ca.yaml');
    const res = await runCli([playbook, '-i', inv, '--dry-run', '--output', 'json', '--state-dir', join(dir, `state-${counter}`)], { cwd: dir });
    const events = jsonEvents(res.stdout);
    expect(res.stdout + res.stderr).not.toMatch(/undefined variable/);
    const detect = events.filter((e) => e.event === 'task-end' && e.stage === 'detect').map((e) => `${e.task}: ${e.status}: ${e.summary}`);
    expect(detect).toEqual([
      expect.stringMatching(/^etcd CA: ok: etcd-ca: due: \d+ days left/),
      expect.stringMatching(/^Kubernetes CA: ok: kubernetes-ca: due: \d+ days left/),
      expect.stringMatching(/^front-proxy CA: ok: front-proxy-ca: due: \d+ days left/),
    ]);
    // Preflight ran its checks for real (this fake node has no etcd and no leaf certificates): the
    // run would stop there, and the dry run says so, listing what it found.
    const preflight = events.find((e) => e.event === 'task-end' && e.stage === 'preflight');
    expect(preflight).toMatchObject({ status: 'failed', error: { code: 'E_PREFLIGHT' } });
    const found = String((preflight?.error as { message: string }).message);
    expect(found).toMatch(/^preflight found \d+ problem\(s\); nothing was changed:/);
    expect(found).toContain('cp1: /etc/kubernetes/pki/etcd/server.crt: missing');
    expect(found).toMatch(/cp1: etcd is not healthy: etcdctl .* failed/);
    expect(res.code).toBe(1);
    expect(events.at(-1)).toMatchObject({ event: 'run-end', status: 'failed', message: expect.stringContaining('the run would stop at stage "preflight"') });
    expect(res.stdout).not.toMatch(/rolled back|--resume/);
    expect(await sums(remote)).toEqual(hostBefore);
  }, 120_000);

  it('is faithful: the (host, path) pairs it plans are those the real run then changes (report.json)', async () => {
    const inv = await inventory();
    await writeFile(join(remote, 'a.conf'), 'x: 1\n');
    await writeFile(join(remote, 'b.conf'), 'x: 1\n');
    await writeFile(join(remote, 'old.tmp'), 'stale\n');
    const pb = join(dir, 'faithful.yaml');
    await writeFile(
      pb,
      `apiVersion: kcarun/v1
kind: Playbook
metadata: { name: faithful, version: 1.0.0 }
stages:
  - name: change
    hosts: nodes
    tasks:
      - { name: new file, type: file-upload, with: { content: "hello\\n", dest: "{{ pki }}/new.txt", mode: "0600" } }
      - name: both configs
        type: file-patch
        loop: ["{{ pki }}/a.conf", "{{ pki }}/b.conf"]
        with: { path: "{{ item }}", edits: [{ op: set-path, path: x, value: 2 }] }
      - { name: already as wanted, type: file-patch, with: { path: "{{ pki }}/a.conf", edits: [{ op: set-path, path: x, value: 2 }] } }
      - { name: drop the stale file, type: ssh-exec, with: { command: "rm -f {{ pki }}/old.tmp", removes: "{{ pki }}/old.tmp" } }
      - { name: a stamp, type: ssh-exec, with: { command: "date > {{ pki }}/stamp", creates: "{{ pki }}/stamp" } }
`,
    );
    const stateDir = join(dir, `state-${counter}`);
    const dry = await runCli([pb, '-i', inv, '--dry-run', '--output', 'json', '--state-dir', stateDir], { cwd: dir });
    expect(dry.code, dry.stdout + dry.stderr).toBe(0);
    const planned = jsonEvents(dry.stdout).filter((e) => e.event === 'planned-change' && e.path).map((e) => `${e.host}:${e.path}`);
    const real = await runCli([pb, '-i', inv, '--yes', '--state-dir', stateDir], { cwd: dir });
    expect(real.code, real.stdout + real.stderr).toBe(0);
    const report = JSON.parse(await readFile(join(stateDir, 'report', 'report.json'), 'utf8')) as { changes: { host: string; files?: string[] }[] };
    const changed = report.changes.flatMap((c) => (c.files ?? []).map((f) => `${c.host}:${f}`));
    const expected = ['a.conf', 'b.conf', 'new.txt', 'old.tmp', 'stamp'].map((f) => `node1:${remote}/${f}`);
    expect([...new Set(planned)].sort()).toEqual(expected);
    expect([...new Set(changed)].sort()).toEqual(expected);
    expect(await readFile(join(remote, 'b.conf'), 'utf8')).toBe('x: 2\n');
    expect(existsSync(join(remote, 'old.tmp'))).toBe(false);
  }, 120_000);

  it('the plan shown before a run renders templated stage fields', async () => {
    const inv = await inventory();
    const pb = join(dir, 'my-rotation.yaml');
    await writeFile(pb, USER_PLAYBOOK);
    const res = await runCli([pb, '-i', inv, '--state-dir', join(dir, `state-${counter}`)], { cwd: dir });
    expect(res.code).toBe(2);
    expect(res.stdout).toMatch(/ {2}trust on node1, serial 50%, when my_ca\.rotate and version\.stdout contains "v1\.30"/);
    expect(res.stdout).not.toContain('{{ batch }}');
  }, 60_000);
});
