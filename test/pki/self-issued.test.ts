/**
 * isSelfIssuedOutsideCluster: the kubelet's own serving certificate (kubelet.crt without
 * serverTLSBootstrap: [leaf "CN=<node>@<ts>", its CA "CN=<node>-ca@<ts>"] in one file, as
 * client-go's GenerateSelfSignedCertKey writes it) is outside a CA rotation; a certificate of a
 * cluster CA never is, not even in a full-chain file; a foreign CA's certificate is no "self" either.
 * Certificates made with the openssl CLI.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificates } from '../../src/pki/certificate.js';
import { isSelfIssuedOutsideCluster } from '../../src/pki/checks.js';
import { makeTempDir } from '../helpers/task-context.js';
import { opensslCa, opensslLeaf } from './openssl.js';

let dir: string;
let cleanup: () => Promise<void>;
const pem = async (...files: string[]): Promise<string> => (await Promise.all(files.map((f) => readFile(f, 'utf8')))).join('');

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-self-issued-'));
});
afterAll(async () => cleanup());

describe('isSelfIssuedOutsideCluster', () => {
  it('tells the kubelet-made serving certificate from cluster-CA and foreign ones', async () => {
    const clusterOld = await opensslCa(dir, 'kubernetes', '/CN=kubernetes');
    const clusterNew = await opensslCa(dir, 'kubernetes-new', '/CN=kubernetes-2026');
    const kubeletCa = await opensslCa(dir, 'cp1-ca', '/CN=cp1-ca@1796055490');
    const foreign = await opensslCa(dir, 'foreign', '/CN=somebody-else');
    const own = await opensslLeaf(dir, 'kubelet', kubeletCa, { subj: '/CN=cp1@1796055490', sans: ['DNS:cp1'] });
    const signed = await opensslLeaf(dir, 'kubelet-server', clusterOld, { subj: '/O=system:nodes/CN=system:node:cp1', sans: ['DNS:cp1'] });
    const other = await opensslLeaf(dir, 'other', foreign, { subj: '/CN=cp1' });
    const cluster = parseCertificates(await pem(clusterOld.cert, clusterNew.cert));

    // kubelet.crt as the kubelet writes it: the leaf, then the CA that made it.
    expect(isSelfIssuedOutsideCluster(parseCertificates(await pem(own.cert, kubeletCa.cert)), cluster)).toBe(true);
    // A self-signed certificate alone (subject = issuer, its own key signed it).
    expect(isSelfIssuedOutsideCluster(parseCertificates(await pem(kubeletCa.cert)), cluster)).toBe(true);
    // Signed by the cluster CA: in the rotation, also with the CA carried along (a full-chain file).
    expect(isSelfIssuedOutsideCluster(parseCertificates(await pem(signed.cert)), cluster)).toBe(false);
    expect(isSelfIssuedOutsideCluster(parseCertificates(await pem(signed.cert, clusterOld.cert)), cluster)).toBe(false);
    // ...even when only the other cluster CA is given (the full chain holds a cluster CA, not the kubelet's own).
    expect(isSelfIssuedOutsideCluster(parseCertificates(await pem(signed.cert, clusterOld.cert)), parseCertificates(await pem(clusterOld.cert)))).toBe(false);
    // The kubelet's leaf without the CA that made it, or a foreign CA's leaf: not "self", a problem for the caller.
    expect(isSelfIssuedOutsideCluster(parseCertificates(await pem(own.cert)), cluster)).toBe(false);
    expect(isSelfIssuedOutsideCluster(parseCertificates(await pem(other.cert)), cluster)).toBe(false);
    expect(isSelfIssuedOutsideCluster([], cluster)).toBe(false);
  });
});
