/**
 * An HTTPS server that checks client certificates the way Kubernetes servers do: TLS asks for a
 * certificate, and a presented certificate that does not chain to the client CA bundle gets 401
 * (and an event), as the x509 authenticator does. TLS handshake failures are logged too.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { X509Certificate } from 'node:crypto';
import { errorMessage, logEvent } from '../shared/common.js';

export interface ClientIdentity {
  user: string;
  groups: string[];
  issuerCN: string;
  /** The verified peer certificate, for servers that trust several CAs for different purposes. */
  peer: X509Certificate;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, who: ClientIdentity | undefined) => void | Promise<void>;

/** Swaps the serving certificate and client CA of a running server (new connections only). */
export function reloadTlsServer(server: Server, material: { cert: string; key: string; clientCa: string }): void {
  server.setSecureContext({ cert: material.cert, key: material.key, ca: material.clientCa });
}

export function startTlsServer(opts: {
  host: string;
  port: number;
  cert: string;
  key: string;
  clientCa: string;
  /** Paths that need no client certificate (e.g. /livez). */
  anonymousPaths?: string[];
  /** Let the handler decide about requests without a verified certificate (bearer tokens). */
  otherAuthenticators?: boolean;
  handler: Handler;
}): Server {
  const server = createServer({ cert: opts.cert, key: opts.key, ca: opts.clientCa, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const socket = req.socket as TLSSocket;
    const peer = socket.getPeerCertificate();
    const presented = peer && Object.keys(peer).length > 0;
    const path = (req.url ?? '/').split('?')[0]!;
    let who: ClientIdentity | undefined;
    if (presented && socket.authorized) {
      const o = peer.subject?.O;
      who = { user: String(peer.subject?.CN ?? ''), groups: Array.isArray(o) ? o : o ? [o] : [], issuerCN: String(peer.issuer?.CN ?? ''), peer: socket.getPeerX509Certificate()! };
    } else if (presented) {
      logEvent('error', 'tls-client-auth', `rejected client certificate CN=${peer.subject?.CN} issued by CN=${peer.issuer?.CN}: ${String(socket.authorizationError)}`, { remote: socket.remoteAddress, path });
    }
    if (!who && !opts.otherAuthenticators && !(opts.anonymousPaths ?? []).includes(path)) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', status: 'Failure', message: 'Unauthorized', code: 401 }));
      return;
    }
    Promise.resolve(opts.handler(req, res, who)).catch((err: unknown) => {
      logEvent('error', 'internal', errorMessage(err), { path });
      if (!res.headersSent) res.writeHead(500);
      res.end(JSON.stringify({ kind: 'Status', status: 'Failure', message: errorMessage(err), code: 500 }));
    });
  });
  server.on('tlsClientError', (err, socket) => {
    // A client that resets before the handshake (a port probe) is not a TLS failure.
    if ((err as NodeJS.ErrnoException).code === 'ECONNRESET') return;
    logEvent('error', 'tls-handshake', `TLS handshake with ${socket.remoteAddress ?? '?'} failed: ${errorMessage(err)}`);
  });
  server.on('error', (err) => {
    logEvent('error', 'listen', `cannot serve on ${opts.host}:${opts.port}: ${errorMessage(err)}`);
    process.exit(1);
  });
  server.listen(opts.port, opts.host);
  return server;
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

export function sendJson(res: ServerResponse, status: number, obj: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(obj));
}
