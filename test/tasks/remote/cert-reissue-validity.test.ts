/**
 * cert-reissue `validityDays`: a 15-day certificate re-issued for a year over a real sshd, the
 * dates read back by openssl; without it the old length is kept; the range is validated.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { schemaProblems } from '../../../src/formats/schema-check.js';
import { caGenerateTask } from '../../../src/tasks/ca-generate/index.js';
import { certReissueTask } from '../../../src/tasks/cert-reissue/index.js';
import { opensslCa, opensslLeaf } from '../../pki/openssl.js';
import { useRemoteEnv } from './remote-env.js';

type Params = Parameters<typeof certReissueTask.run>[0]['params'];

/** NotBefore and NotAfter as openssl prints them, as dates. */
function opensslDates(cert: string): { notBefore: Date; notAfter: Date } {
  const out = execFileSync('openssl', ['x509', '-in', cert, '-noout', '-startdate', '-enddate'], { encoding: 'utf8' });
  const get = (k: string) => new Date(new RegExp(`^${k}=(.*)$`, 'm').exec(out)![1]!);
  return { notBefore: get('notBefore'), notAfter: get('notAfter') };
}
const DAY = 86_400_000;

describe('cert-reissue validityDays, over a real sshd', () => {
  const env = useRemoteEnv();

  const setup = async (): Promise<string> => {
    const ca = await opensslCa(env.remoteDir, 'ca', '/CN=old-etcd-ca', 'ec');
    const leaf = await opensslLeaf(env.remoteDir, 'server', ca, { subj: '/CN=etcd1', alg: 'ec', sans: ['DNS:etcd1', 'IP:127.0.0.1'], days: 15 });
    await caGenerateTask.run(await env.ctx({ name: 'etcd-ca', oldCa: { path: ca.cert }, validityDays: 3650 }));
    return leaf.cert;
  };
  const artifactOf = (path: string) => join(env.stateDir, 'artifacts', 'hosts', env.host.name, path);

  it('validityDays: 365 -> the re-issued certificate ends 365 days from now (openssl), chains to the new CA, keeps subject and SANs', async () => {
    const cert = await setup();
    const before = Date.now();
    const out = await certReissueTask.run(await env.ctx<Params>({ ca: 'etcd-ca', paths: [cert], validityDays: 365 }));
    const issued = artifactOf(cert);
    const { notBefore, notAfter } = opensslDates(issued);
    expect(notAfter.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 365 * DAY);
    expect(notAfter.getTime()).toBeLessThanOrEqual(Date.now() + 365 * DAY);
    expect(notBefore.getTime()).toBeLessThan(before); // still backdated
    expect((out.output as { certificates: Array<{ notAfter: string }> }).certificates[0]!.notAfter).toBe(notAfter.toISOString());
    const newCa = join(env.stateDir, 'artifacts', 'ca', 'etcd-ca.crt');
    expect(execFileSync('openssl', ['verify', '-CAfile', newCa, issued], { encoding: 'utf8' })).toContain(': OK');
    const text = (f: string) => execFileSync('openssl', ['x509', '-in', f, '-noout', '-subject', '-ext', 'subjectAltName'], { encoding: 'utf8' });
    expect(text(issued)).toBe(text(cert));
    // A repeat (a resumed run) reuses it; asking for another validity makes a new one.
    await certReissueTask.run(await env.ctx<Params>({ ca: 'etcd-ca', paths: [cert], validityDays: 365 }));
    expect(opensslDates(issued).notAfter).toEqual(notAfter);
    await certReissueTask.run(await env.ctx<Params>({ ca: 'etcd-ca', paths: [cert], validityDays: 30 }));
    const thirty = opensslDates(issued).notAfter.getTime() - Date.now();
    expect(thirty).toBeGreaterThan(29 * DAY);
    expect(thirty).toBeLessThanOrEqual(30 * DAY);
  });

  it('default: the old length is kept (15 days stay 15 days)', async () => {
    const cert = await setup();
    await certReissueTask.run(await env.ctx<Params>({ ca: 'etcd-ca', paths: [cert] }));
    const old = opensslDates(cert);
    const now = opensslDates(artifactOf(cert));
    expect(now.notAfter.getTime() - now.notBefore.getTime()).toBe(old.notAfter.getTime() - old.notBefore.getTime());
  });

  it('the range is validated: 1..3650 whole days', () => {
    const problems = (v: unknown) => schemaProblems(certReissueTask.schema, { ca: 'etcd-ca', paths: ['/x.crt'], validityDays: v }).map((p) => p.message);
    expect(problems(365)).toEqual([]);
    expect(problems(1)).toEqual([]);
    expect(problems(3650)).toEqual([]);
    expect(problems(0).join()).toMatch(/validityDays/);
    expect(problems(3651).join()).toMatch(/validityDays/);
    expect(problems(1.5).join()).toMatch(/validityDays/);
  });
});
