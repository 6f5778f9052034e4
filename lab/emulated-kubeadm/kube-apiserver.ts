/**
 * Emulated kube-apiserver. Reads the real flags and files: serves HTTPS on --bind-address:--secure-port
 * with --tls-cert-file/--tls-private-key-file; authenticates client certificates against
 * --client-ca-file (a bundle is fine) and front-proxy requests against --requestheader-client-ca-file;
 * stores a small REST surface in the real etcd through --etcd-servers with --etcd-cafile/certfile/keyfile;
 * proxies /api/v1/nodes/NAME/proxy/... to the kubelet with --kubelet-client-certificate/key, checking
 * the kubelet with --kubelet-certificate-authority. /readyz fails when etcd cannot be reached.
 */
import type { ServerResponse } from 'node:http';
import { NODE, errorMessage, issuedByAny, logEvent, parseFlags, readText, requireFlag, setComponent, tlsRequest } from '../shared/common.js';
import { EtcdClient } from '../shared/etcd-client.js';
import { readBody, reloadTlsServer, sendJson, startTlsServer, type ClientIdentity } from './tls-server.js';
import { WatchedFiles } from './file-watch.js';
import { signToken, verifyToken } from './service-account-token.js';

interface Route {
  resource: string;
  namespace?: string;
  name?: string;
  subresource?: string;
  rest?: string;
}

/** /api/v1/..., /apis/GROUP/VERSION/... -> resource, namespace, name (and node proxy paths). */
export function parseRoute(path: string): Route | undefined {
  const parts = path.split('/').filter(Boolean);
  let rest: string[];
  if (parts[0] === 'api' && parts[1] === 'v1') rest = parts.slice(2);
  else if (parts[0] === 'apis' && parts.length >= 3) rest = parts.slice(3);
  else return undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    return { namespace: rest[1], resource: rest[2]!, name: rest[3], subresource: rest[4] };
  }
  if (rest.length === 0) return undefined;
  return { resource: rest[0]!, name: rest[1], subresource: rest[2], rest: rest.slice(3).join('/') };
}

function deepMerge(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (typeof v === 'object' && !Array.isArray(v) && typeof target[k] === 'object' && target[k] !== null && !Array.isArray(target[k])) {
      target[k] = deepMerge(target[k] as Record<string, unknown>, v as Record<string, unknown>);
    } else target[k] = v;
  }
  return target;
}

const WORKLOAD_KINDS = new Set(['deployments', 'daemonsets']);

/** metadata.generation counts spec changes, as for every real workload object. */
function bumpGeneration(old: Record<string, unknown> | undefined, next: Record<string, unknown>): void {
  const meta = next['metadata'] as Record<string, unknown>;
  const oldGen = Number((old?.['metadata'] as Record<string, unknown> | undefined)?.['generation'] ?? 0);
  const changed = !old || JSON.stringify(old['spec'] ?? null) !== JSON.stringify(next['spec'] ?? null);
  meta['generation'] = changed ? oldGen + 1 : Math.max(oldGen, 1);
  if (old && !next['status'] && old['status']) next['status'] = old['status'];
}

export async function kubeApiserverMain(argv: string[]): Promise<void> {
  setComponent('kube-apiserver');
  const flags = parseFlags(argv);
  const host = flags.get('bind-address') ?? flags.get('advertise-address') ?? '0.0.0.0';
  const port = Number(flags.get('secure-port') ?? 6443);
  // Serving certificate and client CA bundles are reloaded from disk when they change, as the real
  // apiserver's dynamic certificate controllers do; everything else is read once at start.
  const requestheaderCaFile = flags.get('requestheader-client-ca-file');
  const dynamic = new WatchedFiles([
    requireFlag(flags, 'tls-cert-file'),
    requireFlag(flags, 'tls-private-key-file'),
    requireFlag(flags, 'client-ca-file'),
    ...(requestheaderCaFile ? [requestheaderCaFile] : []),
  ]);
  let clientCa = dynamic.get(2);
  let requestheaderCa = requestheaderCaFile ? dynamic.get(3) : '';
  const allowedNames = (flags.get('requestheader-allowed-names') ?? '').split(',').filter(Boolean);
  const userHeader = (flags.get('requestheader-username-headers') ?? 'X-Remote-User').toLowerCase();
  // Client pairs are read again at a new connection, at most once a second, like the real
  // apiserver's (etcd's transport GetClientCertificate; client-go's cachingCertificateLoader for the
  // kubelet client; docs/restarts.md): a re-issued pair is presented without a restart. Their CAs
  // are read at start. (The stand-in dials every request afresh.)
  const etcdCa = readText(requireFlag(flags, 'etcd-cafile'));
  const etcdPair = clientPairReader(requireFlag(flags, 'etcd-certfile'), requireFlag(flags, 'etcd-keyfile'));
  const etcd = new EtcdClient(requireFlag(flags, 'etcd-servers').split(','), () => { const p = etcdPair(); return { ca: etcdCa, cert: p.cert!, key: p.key! }; }, { who: 'kube-apiserver' });
  const kubeletCaFile = flags.get('kubelet-certificate-authority');
  const kubeletCa = kubeletCaFile ? readText(kubeletCaFile) : '';
  const kubeletPair = clientPairReader(flags.get('kubelet-client-certificate'), flags.get('kubelet-client-key'));
  const kubeletTls = (): { ca: string; cert?: string; key?: string } => ({ ca: kubeletCa, ...kubeletPair() });

  const saPublicKey = flags.get('service-account-key-file') ? readText(flags.get('service-account-key-file')!) : undefined;
  const saSigningKey = flags.get('service-account-signing-key-file') ? readText(flags.get('service-account-signing-key-file')!) : undefined;
  const saIssuer = flags.get('service-account-issuer') ?? 'https://kubernetes.default.svc.cluster.local';

  /**
   * The x509 authenticator (client-ca certs are users; front-proxy certs carry the user in headers),
   * then the service-account token authenticator for requests without a certificate.
   */
  function authenticate(who: ClientIdentity | undefined, headers: Record<string, string | string[] | undefined>): string | undefined {
    if (!who) {
      const auth = headers['authorization'];
      if (typeof auth === 'string' && auth.startsWith('Bearer ') && saPublicKey) {
        const sub = verifyToken(auth.slice(7), [saPublicKey]);
        if (sub) return sub;
        logEvent('error', 'token-auth', 'invalid bearer token (service-account token not signed by --service-account-key-file)');
      }
      return undefined;
    }
    if (issuedByAny(who.peer, clientCa)) return who.user;
    const forwarded = headers[userHeader];
    if (requestheaderCa && issuedByAny(who.peer, requestheaderCa) && (allowedNames.length === 0 || allowedNames.includes(who.user)) && typeof forwarded === 'string') {
      return forwarded;
    }
    logEvent('error', 'tls-client-auth', `client certificate CN=${who.user} (issuer CN=${who.issuerCN}) is not from --client-ca-file`);
    return undefined;
  }

  async function proxyToKubelet(res: ServerResponse, nodeName: string, rest: string): Promise<void> {
    const stored = await etcd.get(`/registry/nodes/${nodeName}`);
    const node = stored ? (JSON.parse(stored) as { status?: { addresses?: Array<{ type: string; address: string }> } }) : undefined;
    const ip = node?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    if (!ip) return sendJson(res, 404, { kind: 'Status', code: 404, message: `node ${nodeName} not found` });
    try {
      const r = await tlsRequest(`https://${ip}:10250/${rest}`, kubeletTls(), { timeoutMs: 3000, insecure: !kubeletCa });
      res.writeHead(r.status, { 'content-type': 'text/plain' });
      res.end(r.body);
    } catch (err) {
      logEvent('error', 'kubelet-connection', `kube-apiserver -> kubelet ${nodeName} (${ip}): ${errorMessage(err)}`);
      sendJson(res, 502, { kind: 'Status', code: 502, message: `error dialing kubelet: ${errorMessage(err)}` });
    }
  }

  const server = startTlsServer({
    host,
    port,
    cert: dynamic.get(0),
    key: dynamic.get(1),
    clientCa: requestheaderCa ? `${clientCa}\n${requestheaderCa}` : clientCa,
    anonymousPaths: ['/livez', '/readyz', '/healthz', '/version'],
    otherAuthenticators: true,
    handler: async (req, res, who) => {
      const url = new URL(req.url ?? '/', 'https://x');
      const path = url.pathname;
      if (path === '/livez') return void res.end('ok');
      if (path === '/version') return sendJson(res, 200, { major: '1', minor: '30', gitVersion: 'v1.30.0-kcarun-lab' });
      if (path === '/readyz' || path === '/healthz') {
        try {
          await etcd.get('/registry/health');
          return void res.end('ok');
        } catch (err) {
          res.writeHead(500);
          return void res.end(`[-]etcd failed: ${errorMessage(err)}\nreadyz check failed`);
        }
      }
      const user = authenticate(who, req.headers);
      if (!user) return sendJson(res, 401, { kind: 'Status', status: 'Failure', message: 'Unauthorized', code: 401 });
      if (path === '/api' || path === '/apis') return sendJson(res, 200, { kind: 'APIVersions', versions: ['v1'], user });
      const route = parseRoute(path);
      if (!route) return sendJson(res, 404, { kind: 'Status', code: 404, message: `no route for ${path}` });
      if (route.resource === 'nodes' && route.name && route.subresource === 'proxy') return proxyToKubelet(res, route.name, route.rest ?? '');
      if (route.resource === 'serviceaccounts' && route.name && route.subresource === 'token' && req.method === 'POST') {
        if (!saSigningKey) return sendJson(res, 500, { kind: 'Status', code: 500, message: 'no --service-account-signing-key-file' });
        const now = Math.floor(Date.now() / 1000);
        const token = signToken(saSigningKey, { iss: saIssuer, sub: `system:serviceaccount:${route.namespace}:${route.name}`, aud: [saIssuer], iat: now, exp: now + 3600 });
        return sendJson(res, 201, { kind: 'TokenRequest', apiVersion: 'authentication.k8s.io/v1', status: { token, expirationTimestamp: new Date((now + 3600) * 1000).toISOString() } });
      }
      const base = route.namespace ? `/registry/${route.resource}/${route.namespace}/` : `/registry/${route.resource}/`;
      const method = req.method ?? 'GET';
      if (!route.name) {
        if (method !== 'GET') return sendJson(res, 405, { kind: 'Status', code: 405 });
        const items = (await etcd.list(base)).map((kv) => JSON.parse(kv.value) as unknown);
        return sendJson(res, 200, { kind: 'List', apiVersion: 'v1', items });
      }
      const key = `${base}${route.name}`;
      switch (method) {
        case 'GET': {
          const v = await etcd.get(key);
          return v === undefined ? sendJson(res, 404, { kind: 'Status', code: 404, reason: 'NotFound', message: `${route.resource} "${route.name}" not found` }) : sendJson(res, 200, JSON.parse(v));
        }
        case 'PUT':
        case 'POST': {
          const obj = JSON.parse((await readBody(req)) || '{}') as Record<string, unknown>;
          const meta = (obj['metadata'] ?? {}) as Record<string, unknown>;
          obj['metadata'] = { ...meta, name: route.name, ...(route.namespace ? { namespace: route.namespace } : {}) };
          if (WORKLOAD_KINDS.has(route.resource) && route.subresource !== 'status') {
            const old = await etcd.get(key);
            bumpGeneration(old === undefined ? undefined : (JSON.parse(old) as Record<string, unknown>), obj);
          }
          const rev = await etcd.put(key, JSON.stringify(obj));
          (obj['metadata'] as Record<string, unknown>)['resourceVersion'] = String(rev);
          return sendJson(res, 200, obj);
        }
        case 'PATCH': {
          const v = await etcd.get(key);
          if (v === undefined) return sendJson(res, 404, { kind: 'Status', code: 404, reason: 'NotFound' });
          const old = JSON.parse(v) as Record<string, unknown>;
          const merged = deepMerge(JSON.parse(v) as Record<string, unknown>, JSON.parse((await readBody(req)) || '{}') as Record<string, unknown>);
          if (WORKLOAD_KINDS.has(route.resource) && route.subresource !== 'status') bumpGeneration(old, merged);
          await etcd.put(key, JSON.stringify(merged));
          return sendJson(res, 200, merged);
        }
        case 'DELETE':
          await etcd.delete(key);
          return sendJson(res, 200, { kind: 'Status', status: 'Success' });
        default:
          return sendJson(res, 405, { kind: 'Status', code: 405 });
      }
    },
  });
  dynamic.watch(([cert, key, ca, rhCa]) => {
    reloadTlsServer(server, { cert: cert!, key: key!, clientCa: rhCa ? `${ca}\n${rhCa}` : ca! });
    clientCa = ca!;
    requestheaderCa = rhCa ?? '';
  });
  logEvent('info', 'start', `kube-apiserver on ${NODE} serving https://${host}:${port}`);
}

/** A getter of a client certificate and key read from their files again when the last read is over a second old. */
function clientPairReader(certFile: string | undefined, keyFile: string | undefined): () => { cert?: string; key?: string } {
  let last = { at: 0, cert: undefined as string | undefined, key: undefined as string | undefined };
  return () => {
    if (Date.now() - last.at > 1000) last = { at: Date.now(), cert: certFile ? readText(certFile) : undefined, key: keyFile ? readText(keyFile) : undefined };
    return { cert: last.cert, key: last.key };
  };
}
