/**
 * An HTTPS server on 127.0.0.1 that answers as kube-apiserver would, for the tests of kcarun's
 * Kubernetes client and the lab's traffic: one self-signed pair from the openssl CLI (SAN
 * 127.0.0.1, O=system:masters) stands for the CA, the serving pair and the admin's client pair.
 * Register `close` in afterAll: it stops every server and removes the pair.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ApiserverStandIns {
  /** The pair's files (PEM), for kubeconfigs. */
  key: string;
  crt: string;
  /** Starts a server with `handler`; resolves with its https:// URL. */
  serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string>;
  close(): Promise<void>;
}

export function apiserverStandIns(name: string): ApiserverStandIns {
  const root = mkdtempSync(join(tmpdir(), `kcarun-${name}-`));
  const key = join(root, 'k.pem');
  const crt = join(root, 'c.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', crt, '-days', '1', '-subj', '/O=system:masters/CN=kubernetes-admin', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const servers: Server[] = [];
  return {
    key,
    crt,
    async serve(handler) {
      const server = createServer({ key: readFileSync(key), cert: readFileSync(crt) }, handler);
      servers.push(server);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return `https://127.0.0.1:${(server.address() as { port: number }).port}`;
    },
    async close() {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
      rmSync(root, { recursive: true, force: true });
    },
  };
}
