import { Type, type Static } from '@sinclair/typebox';

/** etcd client TLS as the caller names it: pass the NEW files to prove they work. */
export const EtcdTlsSchema = {
  cacert: Type.String({ minLength: 1, description: 'CA bundle (path on the host) etcdctl trusts.' }),
  cert: Type.String({ minLength: 1, description: 'Client certificate (path on the host).' }),
  key: Type.String({ minLength: 1, description: 'Client key (path on the host).' }),
  endpoints: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'Client URLs to start from (default https://<host address>:2379); members are discovered from the member list.' })),
};

export const PollSchema = {
  timeoutSeconds: Type.Optional(Type.Number({ minimum: 1, description: 'Give up after this long (default 120).' })),
  intervalSeconds: Type.Optional(Type.Number({ minimum: 0.1, description: 'Between attempts (default 2).' })),
  successes: Type.Optional(Type.Integer({ minimum: 1, description: 'Consecutive successes needed (default 3).' })),
};

const probeName = { name: Type.Optional(Type.String({ description: 'Shown in messages (default: the kind).' })) };

export const EtcdProbeSchema = Type.Object(
  {
    kind: Type.Literal('etcd'),
    ...probeName,
    ...EtcdTlsSchema,
    requireRaftProgress: Type.Optional(Type.Boolean({ description: 'The raft index must advance over the stability window (default true).' })),
    ...PollSchema,
  },
  { additionalProperties: false },
);

export const HttpsProbeSchema = Type.Object(
  {
    kind: Type.Literal('https'),
    ...probeName,
    url: Type.String({ minLength: 1 }),
    cacert: Type.String({ minLength: 1, description: 'CA bundle (path on the host) the server must chain to.' }),
    cert: Type.Optional(Type.String()),
    key: Type.Optional(Type.String()),
    expectStatus: Type.Optional(Type.Integer({ minimum: 100, maximum: 599, description: 'Default 200.' })),
    bodyMatches: Type.Optional(Type.String({ description: 'Regular expression the body must match.' })),
    ...PollSchema,
  },
  { additionalProperties: false },
);

export const TlsProbeSchema = Type.Object(
  {
    kind: Type.Literal('tls'),
    ...probeName,
    address: Type.String({ minLength: 3, description: 'host:port to connect to.' }),
    serverName: Type.Optional(Type.String({ description: 'SNI and the name to verify (default: the address host).' })),
    ca: Type.String({ minLength: 1, description: 'The CA (path on the host) the served certificate must chain to.' }),
    cert: Type.Optional(Type.String({ description: 'Client certificate, for servers that require one.' })),
    key: Type.Optional(Type.String()),
    ...PollSchema,
  },
  { additionalProperties: false },
);

export const TcpProbeSchema = Type.Object(
  { kind: Type.Literal('tcp'), ...probeName, address: Type.String({ minLength: 3, description: 'host:port' }), ...PollSchema },
  { additionalProperties: false },
);

export const CommandProbeSchema = Type.Object(
  {
    kind: Type.Literal('command'),
    ...probeName,
    command: Type.String({ minLength: 1, 'x-shell': true }),
    stdoutMatches: Type.Optional(Type.String()),
    become: Type.Optional(Type.Boolean()),
    ...PollSchema,
  },
  { additionalProperties: false },
);

export const KubeProbeSchema = Type.Object(
  {
    kind: Type.Literal('kube'),
    ...probeName,
    kubeconfig: Type.Optional(Type.String({ description: 'Kubeconfig on the host (default /etc/kubernetes/admin.conf).' })),
    nodes: Type.Optional(Type.Array(Type.String(), { description: 'Nodes that must exist (default: every node the API lists).' })),
    maxLeaseAgeSeconds: Type.Optional(Type.Number({ minimum: 1, description: "A node lease older than this is not renewing (default: the lease's leaseDurationSeconds)." })),
    ...PollSchema,
  },
  { additionalProperties: false },
);

export const ProbeSchema = Type.Union([EtcdProbeSchema, HttpsProbeSchema, TlsProbeSchema, TcpProbeSchema, CommandProbeSchema, KubeProbeSchema]);

export type EtcdProbe = Static<typeof EtcdProbeSchema>;
export type HttpsProbe = Static<typeof HttpsProbeSchema>;
export type TlsProbe = Static<typeof TlsProbeSchema>;
export type TcpProbe = Static<typeof TcpProbeSchema>;
export type CommandProbe = Static<typeof CommandProbeSchema>;
export type KubeProbe = Static<typeof KubeProbeSchema>;
export type Probe = Static<typeof ProbeSchema>;

export const KubeconfigParam = {
  kubeconfig: Type.Optional(Type.String({ description: 'Kubeconfig read from the host (default /etc/kubernetes/admin.conf).' })),
  server: Type.Optional(Type.String({ description: "Overrides the kubeconfig's server URL." })),
};

export const DEFAULT_KUBECONFIG = '/etc/kubernetes/admin.conf';
