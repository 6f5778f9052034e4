/**
 * preflight over a real sshd: heldStaticPods (a manifest's held copy, left by a run interrupted while
 * static-pod-hold kept the apiserver out of service, refuses a fresh run, naming the file and the two
 * ways out; no held copy passes) and recommendFlags (a warning, never a refusal).
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KcarunErrorList } from '../../../src/core/errors.js';
import { preflightTask } from '../../../src/tasks/preflight/index.js';
import { useRemoteEnv } from './remote-env.js';

type Params = Parameters<typeof preflightTask.run>[0]['params'];

describe('preflight refuses a static pod an interrupted run left held', () => {
  const env = useRemoteEnv();

  it('passes without a held copy, refuses with one, naming it and --resume', async () => {
    const manifest = join(env.remoteDir, 'kube-apiserver.yaml');
    const held = join(env.remoteDir, '.kube-apiserver.yaml.kcarun-held');
    const check = async () => preflightTask.run(await env.ctx<Params>({ hosts: [env.host.name], lock: false, heldStaticPods: [{ manifest }] }));
    await writeFile(manifest, 'kind: Pod\n');
    await expect(check()).resolves.toMatchObject({ changed: false });
    await rm(manifest);
    await writeFile(held, 'kind: Pod\n');
    const err = await check().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KcarunErrorList);
    expect((err as Error).message).toContain(
      `${env.host.name}: ${held} exists: an interrupted kcarun run holds this static pod out of service (static-pod-hold); continue that run with --resume, or put the manifest back (mv ${held} ${manifest}) once it is what should run`,
    );
  });

  it('recommendFlags: warns (and passes) when an apiserver manifest does not set --shutdown-delay-duration; silent when it does', async () => {
    const manifest = join(env.remoteDir, 'kube-apiserver-flags.yaml');
    const warnings: string[] = [];
    const check = async () => {
      const ctx = await env.ctx<Params>({ hosts: [env.host.name], lock: false, recommendFlags: [{ path: manifest, in: 'manifest', flag: 'shutdown-delay-duration', why: 'set it' }] });
      return preflightTask.run({ ...ctx, log: { ...ctx.log, warn: (m: string) => void warnings.push(m) } });
    };
    const pod = (flags: string[]) => `kind: Pod\nspec:\n  containers:\n  - name: kube-apiserver\n    command:\n    - kube-apiserver\n${flags.map((f) => `    - ${f}\n`).join('')}`;
    await writeFile(manifest, pod(['--etcd-servers=https://127.0.0.1:2379']));
    await expect(check()).resolves.toMatchObject({ changed: false });
    expect(warnings).toEqual([`${env.host.name}: ${manifest} does not set --shutdown-delay-duration: set it`]);
    warnings.length = 0;
    await writeFile(manifest, pod(['--etcd-servers=https://127.0.0.1:2379', '--shutdown-delay-duration=15s']));
    await expect(check()).resolves.toMatchObject({ changed: false });
    expect(warnings).toEqual([]);
  });
});
