/**
 * ca-status (the detect stage) against a state dir that belongs to another cluster: the old CA it
 * recorded is not the host's CA, and the host's CA is not its new CA either. Bundles built from it
 * would not hold the live CA (found on a lab made again at the same inventory path: a single-member
 * etcd given such a bundle lost every client), so detect refuses with E_STATE and changes nothing.
 */
import { copyFile, mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KcarunError } from '../../../src/core/errors.js';
import { caGenerateTask } from '../../../src/tasks/ca-generate/index.js';
import { caStatusTask } from '../../../src/tasks/ca-status/index.js';
import { makeHost, makeTaskContext, makeTempDir } from '../../helpers/task-context.js';
import { opensslCa } from '../../pki/openssl.js';

let dir: string;
let cleanup: () => Promise<void>;
let hostCaFile: string;
let stateDir: string;
let otherCluster: { cert: string };
let thisCluster: { cert: string };
const cp1 = makeHost('cp1');

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-ca-status-'));
  stateDir = join(dir, 'state');
  await mkdir(join(dir, 'host'), { recursive: true });
  await mkdir(join(dir, 'made'), { recursive: true });
  // Two clusters' CAs with the same subject, as two kubeadm clusters (or a lab made twice) have.
  otherCluster = await opensslCa(join(dir, 'made'), 'earlier', '/CN=etcd-ca');
  thisCluster = await opensslCa(join(dir, 'made'), 'now', '/CN=etcd-ca');
  hostCaFile = join(dir, 'host/ca.crt');
});
afterAll(async () => cleanup());

const status = async () =>
  caStatusTask.run(await makeTaskContext({ params: { name: 'etcd-ca', cert: hostCaFile, bundle: join(dir, 'host/ca-bundle.crt'), force: true }, stateDir, host: cp1 }));

describe('ca-status', () => {
  it('refuses (E_STATE, naming the host file, both CAs and the state dir) a state dir whose recorded old CA the host does not hold; nothing is written', async () => {
    // An earlier rotation of the other cluster with this state dir: old CA recorded, new CA made.
    await copyFile(otherCluster.cert, hostCaFile);
    expect((await status()).output?.['rotate']).toBe(true);
    await caGenerateTask.run(await makeTaskContext({ params: { name: 'etcd-ca', oldCa: { path: hostCaFile } }, stateDir, host: cp1 }));
    const artifactsBefore = (await readdir(join(stateDir, 'artifacts/ca'))).sort();
    const oldBefore = await readFile(join(stateDir, 'artifacts/ca/etcd-ca-old.crt'), 'utf8');

    // The same inventory path now names another cluster.
    await copyFile(thisCluster.cert, hostCaFile);
    const err = await status().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(KcarunError);
    expect((err as KcarunError).code).toBe('E_STATE');
    expect((err as KcarunError).message).toContain(`cp1:${hostCaFile} holds "CN=etcd-ca"`);
    expect((err as KcarunError).message).toContain(`the state dir ${stateDir} recorded`);
    expect((err as KcarunError).message).toMatch(/belongs to another cluster or rotation/);
    expect((await readdir(join(stateDir, 'artifacts/ca'))).sort()).toEqual(artifactsBefore);
    expect(await readFile(join(stateDir, 'artifacts/ca/etcd-ca-old.crt'), 'utf8')).toBe(oldBefore);
  });

  it('goes on when the host holds the recorded old CA (trusting) or the new CA of that rotation (switched)', async () => {
    await copyFile(otherCluster.cert, hostCaFile);
    expect((await status()).summary).toMatch(/rotation under way \(trusting/);
    await copyFile(join(stateDir, 'artifacts/ca/etcd-ca.crt'), hostCaFile);
    expect((await status()).summary).toMatch(/rotation under way \(switched|already rotated/);
  });
});
