import { Type, type Static } from '@sinclair/typebox';
import { MAX_WAIT_SECONDS } from '../../core/async.js';

/**
 * Schema fragments shared by several task types. A task type's own params live in its folder
 * (src/tasks/<type>/schema.ts); only pieces two or more types spread into theirs are here. TypeBox
 * only: `kcarun validate` loads every schema with the registry and must stay fast.
 */

/**
 * Where a component setting lives (file-patch's set-flag `in`, flag-read, preflight's flag checks):
 * a static pod manifest, a systemd unit's ExecStart, an etcd YAML config, an environment file or a
 * KubeletConfiguration (src/tasks/shared/setting-value.ts reads each).
 */
export function SettingInSchema(description: string) {
  return Type.Union([Type.Literal('manifest'), Type.Literal('unit'), Type.Literal('etcd-config'), Type.Literal('env-file'), Type.Literal('kubelet-config')], { description });
}

// ---- files on a host -----------------------------------------------------------------------------

/**
 * A file or folder on a host. Absolute only: a relative path is resolved against the folder the SSH
 * login (or a local command) starts in, so the same playbook would touch different files per user.
 * A literal one is refused by `kcarun validate` at its FILE:LINE:COL; a templated one is checked by
 * the same schema once rendered, before the task runs (engine/step.ts buildContext). `x-pattern-message`
 * is what formats/schema-check.ts reports instead of the bare pattern.
 */
export function RemotePathSchema(description?: string, options: { default?: string } = {}) {
  return Type.String({
    minLength: 1,
    // No C0 control characters or DEL: a newline in a path makes sha256sum escape the line (its output
    // then starts with a backslash) and splits every line-based listing that names it.
    pattern: '^/[^\\x00-\\x1f\\x7f]*$',
    'x-pattern-message': 'must be an absolute path (starting with /) with no control character (a newline, a tab): a relative path on a host depends on the folder the SSH login starts in, and a control character breaks the line-based output of the tools that print paths (sha256sum, ls)',
    ...(description ? { description } : {}),
    ...options,
  });
}

/**
 * A file in the run's state dir artifacts/ folder: relative, and no `..` segment (not even one that
 * a later segment would undo: a pattern cannot normalise, and no playbook needs it). The state dir
 * refuses an escaping path again when it is used (engine/state-dir.ts artifactPath); this schema
 * lets `kcarun validate` refuse a literal one at its FILE:LINE:COL, and a templated one before its
 * task runs.
 */
export function ArtifactPathSchema(description?: string) {
  return Type.String({
    minLength: 1,
    pattern: '^(?!/)(?!(?:.*/)?\\.\\.(?:/|$))',
    'x-pattern-message': 'must be a path inside the state dir\'s artifacts/ folder: relative, with no ".." segment',
    ...(description ? { description } : {}),
  });
}

/**
 * File modes are octal strings ('0600'): a YAML 1.2 `mode: 0600` is the decimal number 600, a
 * classic way to end up with a world-readable key, so numbers are not accepted.
 */
export const ModeSchema = Type.String({ pattern: '^0?[0-7]{3,4}$', description: "Octal permission bits as a quoted string, e.g. '0600'." });

export const BecomeSchema = Type.Optional(Type.Boolean({ description: "Run as root through sudo (default: the inventory's `become`)." }));

/** Where content comes from: a state-dir artifact, a file already on the host, or inline text. */
export const ContentSourceSchema = Type.Union([
  Type.Object({ artifact: ArtifactPathSchema('Path inside the state dir artifacts/, e.g. bundles/etcd-ca-bundle.crt.') }, { additionalProperties: false }),
  Type.Object({ hostFile: RemotePathSchema('A file on the same host (read with the same `become`).') }, { additionalProperties: false }),
  Type.Object({ content: Type.String({ description: 'Inline content.' }) }, { additionalProperties: false }),
]);
export type ContentSource = Static<typeof ContentSourceSchema>;

/** A kubeconfig credential: embedded from a content source (`*-data`), or a file path reference. */
export const KubeconfigValueSchema = Type.Union([
  ContentSourceSchema,
  Type.Object({ path: Type.String({ minLength: 1, description: 'Reference the file by path instead of embedding it.' }) }, { additionalProperties: false }),
]);
export type KubeconfigValue = Static<typeof KubeconfigValueSchema>;

// ---- certificates --------------------------------------------------------------------------------

/** Where a certificate (or bundle) comes from: a state-dir artifact, or a file on a host. */
export const CertSourceSchema = Type.Union(
  [
    Type.Object({ artifact: ArtifactPathSchema('Path inside the state dir artifacts, e.g. ca/etcd-ca.crt.') }, { additionalProperties: false }),
    Type.Object(
      {
        path: RemotePathSchema('Absolute path on the host.'),
        host: Type.Optional(Type.String({ description: "Inventory host to read it from (default: the task's host)." })),
      },
      { additionalProperties: false },
    ),
  ],
  { description: 'A certificate file: { artifact } from the state dir, or { path, host? } on a host.' },
);
export type CertSource = Static<typeof CertSourceSchema>;

export const CaNameSchema = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
  description: 'Name of a CA made by ca-generate: its files are artifacts ca/<name>.crt and ca/<name>.key.',
});

/** A certificate on the host; `key` defaults to foo.crt -> foo.key, foo.pem -> foo-key.pem. */
export const CertPathSchema = Type.Union([
  RemotePathSchema(),
  Type.Object(
    {
      cert: RemotePathSchema(),
      key: Type.Optional(RemotePathSchema()),
      /** cert-check only: SANs this certificate must carry. */
      sans: Type.Optional(Type.Array(Type.String())),
    },
    { additionalProperties: false },
  ),
]);
export type CertPath = Static<typeof CertPathSchema>;

/** kubeadm's leaf certificates, by the CA that signs them. */
export const KubeadmSetSchema = Type.Union([Type.Literal('kubeadm-kubernetes'), Type.Literal('kubeadm-etcd'), Type.Literal('kubeadm-front-proxy')], {
  description: "kubeadm's leaf certificates signed by one CA (files missing on a host are skipped).",
});

/** The certificate files cert-reissue and cert-check work on (see resolveTargets). */
export const TargetsSchema = {
  paths: Type.Optional(Type.Array(CertPathSchema, { description: 'Certificate files on the host.' })),
  set: Type.Optional(KubeadmSetSchema),
  pkiDir: Type.Optional(RemotePathSchema("Where `set` looks (kubeadm's pki dir).", { default: '/etc/kubernetes/pki' })),
  missing: Type.Optional(
    Type.Union([Type.Literal('error'), Type.Literal('skip')], { default: 'error', description: 'What to do when a listed path does not exist on the host.' }),
  ),
};
const Targets = Type.Object(TargetsSchema);
export type TargetsParams = Static<typeof Targets>;

// ---- etcd, health polling, the Kubernetes API --------------------------------------------------

/** etcd client TLS as the caller names it: pass the NEW files to prove they work. */
export const EtcdTlsSchema = {
  cacert: RemotePathSchema('CA bundle (path on the host) etcdctl trusts.'),
  cert: RemotePathSchema('Client certificate (path on the host).'),
  key: RemotePathSchema('Client key (path on the host).'),
  endpoints: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'Client URLs to start from (default https://<host address>:2379); members are discovered from the member list.' })),
};

/**
 * An endpoint as `host:port`: a DNS name or IPv4 address, or a bracketed IPv6 address (RFC 3986
 * section 3.2.2), then a port. Nothing else reaches the probes' commands (they are shell-quoted
 * besides), and a mistyped address fails at `kcarun validate` rather than as an unreachable gate.
 */
export function HostPortSchema(description: string) {
  return Type.String({
    pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):[0-9]{1,5}$',
    'x-pattern-message': 'must be host:port (a DNS name, an IPv4 address or a bracketed IPv6 address, then a port)',
    description,
  });
}

/** An http:// or https:// URL (a probe's curl refuses other schemes too). */
export function HttpUrlSchema(description: string) {
  return Type.String({ pattern: '^https?://[^\\s]+$', 'x-pattern-message': 'must be an http:// or https:// URL', description });
}

export const PollSchema = {
  timeoutSeconds: Type.Optional(Type.Number({ minimum: 1, maximum: MAX_WAIT_SECONDS, description: 'Give up after this long (default 120).' })),
  intervalSeconds: Type.Optional(Type.Number({ minimum: 0.1, maximum: 3600, description: 'Between attempts (default 2).' })),
  successes: Type.Optional(Type.Integer({ minimum: 1, description: 'Consecutive successes needed (default 3).' })),
};

export const KubeconfigParam = {
  kubeconfig: Type.Optional(RemotePathSchema('Kubeconfig read from the host (default /etc/kubernetes/admin.conf).')),
  server: Type.Optional(Type.String({ description: "Overrides the kubeconfig's server URL." })),
};
const KubeconfigParams = Type.Object(KubeconfigParam);
export type KubeconfigParams = Static<typeof KubeconfigParams>;

export const DEFAULT_KUBECONFIG = '/etc/kubernetes/admin.conf';
