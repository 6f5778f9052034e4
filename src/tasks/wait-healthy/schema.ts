import { Type, type Static } from '@sinclair/typebox';
import { EtcdTlsSchema, HostPortSchema, HttpUrlSchema, PollSchema, RemotePathSchema } from '../shared/schemas.js';

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
    url: HttpUrlSchema('The URL curl fetches on the host.'),
    cacert: RemotePathSchema('CA bundle (path on the host) the server must chain to.'),
    cert: Type.Optional(RemotePathSchema('Client certificate (path on the host).')),
    key: Type.Optional(RemotePathSchema('Its key (path on the host).')),
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
    address: HostPortSchema('host:port to connect to.'),
    serverName: Type.Optional(Type.String({ description: 'SNI and the name to verify (default: the address host).' })),
    ca: RemotePathSchema('The CA (path on the host) the served certificate must chain to.'),
    cert: Type.Optional(RemotePathSchema('Client certificate (path on the host), for servers that require one.')),
    key: Type.Optional(RemotePathSchema('Its key (path on the host).')),
    ...PollSchema,
  },
  { additionalProperties: false },
);

export const KubeletProbeSchema = Type.Object(
  {
    kind: Type.Literal('kubelet'),
    ...probeName,
    address: HostPortSchema("The kubelet's server, host:port (10250)."),
    cert: RemotePathSchema('A client certificate the kubelet must accept (path on the host), e.g. the NEW-CA apiserver-kubelet-client.crt: GET /healthz must answer 200, not 401.'),
    key: RemotePathSchema('Its key (path on the host).'),
    ca: RemotePathSchema(
      "The CA (path on the host) a cluster-signed serving certificate must chain to (the new CA). A self-signed one (the kubelet's own, without serverTLSBootstrap) passes as outside the rotation; one from any other CA fails.",
    ),
    otherCas: Type.Optional(RemotePathSchema('More CAs of the cluster (e.g. the old+new bundle, path on the host): a serving certificate from one of them is not self-signed, and fails unless `ca` issued it.')),
    ...PollSchema,
  },
  { additionalProperties: false },
);

export const TcpProbeSchema = Type.Object(
  { kind: Type.Literal('tcp'), ...probeName, address: HostPortSchema('host:port'), ...PollSchema },
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
    kubeconfig: Type.Optional(RemotePathSchema('Kubeconfig on the host (default /etc/kubernetes/admin.conf).')),
    nodes: Type.Optional(Type.Array(Type.String(), { description: 'Nodes that must exist (default: every node the API lists).' })),
    maxLeaseAgeSeconds: Type.Optional(Type.Number({ minimum: 1, description: "A node lease older than this is not renewing (default: the lease's leaseDurationSeconds)." })),
    ...PollSchema,
  },
  { additionalProperties: false },
);

export const ProbeSchema = Type.Union([EtcdProbeSchema, HttpsProbeSchema, TlsProbeSchema, KubeletProbeSchema, TcpProbeSchema, CommandProbeSchema, KubeProbeSchema]);

export type EtcdProbe = Static<typeof EtcdProbeSchema>;
export type HttpsProbe = Static<typeof HttpsProbeSchema>;
export type TlsProbe = Static<typeof TlsProbeSchema>;
export type TcpProbe = Static<typeof TcpProbeSchema>;
export type KubeletProbe = Static<typeof KubeletProbeSchema>;
export type CommandProbe = Static<typeof CommandProbeSchema>;
export type KubeProbe = Static<typeof KubeProbeSchema>;
export type Probe = Static<typeof ProbeSchema>;

export const WaitHealthySchema = Type.Object(
  {
    probes: Type.Array(ProbeSchema, { minItems: 1 }),
    ...PollSchema,
  },
  { additionalProperties: false },
);
export type WaitHealthyParams = Static<typeof WaitHealthySchema>;
