/**
 * Hostile values in wait-healthy probes (session 26's review): an inventory value reaches the tcp
 * and https probes' commands as data, never as shell syntax or a curl option, and `kcarun validate`
 * refuses an address or URL of the wrong shape at its FILE:LINE:COL. The probes run through the local
 * transport here (bash and curl on this machine), as they run on a host through SSH.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KcarunError } from '../../../src/core/errors.js';
import { waitHealthyTask } from '../../../src/tasks/wait-healthy/index.js';
import type { WaitHealthyParams } from '../../../src/tasks/wait-healthy/schema.js';
import { etcdEndpoints } from '../../../src/tasks/shared/etcdctl.js';
import { runCli } from '../../helpers/cli.js';
import { makeHost, makeTaskContext, makeTempDir } from '../../helpers/task-context.js';

describe('wait-healthy probes with hostile input', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    tmp = await makeTempDir('kcarun-probe-input-');
  });
  afterAll(async () => {
    await tmp.cleanup();
  });

  const gate = async (params: WaitHealthyParams): Promise<KcarunError> => {
    const ctx = await makeTaskContext({ params, stateDir: join(tmp.dir, 'state'), host: makeHost('cp1') });
    try {
      await waitHealthyTask.run(ctx);
    } catch (err) {
      expect(err).toBeInstanceOf(KcarunError);
      return err as KcarunError;
    }
    throw new Error('the gate passed');
  };

  it('tcp: a $(...) in the address is never run; the probe fails as an unreachable address', async () => {
    const marker = join(tmp.dir, 'tcp-pwned');
    const err = await gate({ timeoutSeconds: 1, intervalSeconds: 0.2, successes: 1, probes: [{ kind: 'tcp', address: `$(touch ${marker})127.0.0.1:1` }] });
    expect(err.message).toMatch(/cannot connect to \$\(touch .*\)127\.0\.0\.1:1/);
    expect(existsSync(marker)).toBe(false);
  });

  it('https: curl takes only http(s) URLs: a file:// URL is refused by curl itself, not read', async () => {
    const secret = join(tmp.dir, 'secret.txt');
    await writeFile(secret, 'not-for-output');
    const err = await gate({ timeoutSeconds: 1, intervalSeconds: 0.2, successes: 1, probes: [{ kind: 'https', url: `file://${secret}`, cacert: '/etc/ssl/certs/ca-certificates.crt' }] });
    expect(err.message).toMatch(/Protocol "file" (not supported|disabled)/);
    expect(err.message).not.toContain('not-for-output');
  });

  it('etcd endpoints: a bare IPv6 host address is bracketed in the default URL (RFC 3986)', () => {
    const tls = { cacert: '/a', cert: '/b', key: '/c' };
    expect(etcdEndpoints(tls, 'fd00::1')).toEqual(['https://[fd00::1]:2379']);
    expect(etcdEndpoints(tls, '10.0.0.1')).toEqual(['https://10.0.0.1:2379']);
  });

  it('kcarun validate refuses a probe address or URL of the wrong shape, and a 30-day timeout, at FILE:LINE:COL', async () => {
    const playbook = join(tmp.dir, 'probes.yaml');
    await writeFile(
      playbook,
      `apiVersion: kcarun/v1
kind: Playbook
metadata: { name: hostile, version: 1.0.0 }
stages:
  - name: gate
    hosts: all
    tasks:
      - name: gate
        type: wait-healthy
        with:
          timeoutSeconds: 2592000
          probes:
            - { kind: tcp, address: "$(id)x:1" }
            - { kind: https, url: "file:///etc/kubernetes/pki/ca.key", cacert: /etc/kubernetes/pki/ca.crt }
            - { kind: tls, address: "abc", ca: /etc/kubernetes/pki/ca.crt }
`,
    );
    const r = await runCli(['validate', playbook], { cwd: tmp.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/probes\.yaml:11:\d+: .*timeoutSeconds.*(<=|at most|maximum)/s);
    expect(r.stderr).toMatch(/probes\.yaml:13:\d+: .*must be host:port/);
    expect(r.stderr).toMatch(/probes\.yaml:14:\d+: .*must be an http:\/\/ or https:\/\/ URL/);
    expect(r.stderr).toMatch(/probes\.yaml:15:\d+: .*must be host:port/);
  });
});
