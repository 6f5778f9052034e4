import { Type, type Static } from '@sinclair/typebox';

/**
 * File modes are octal strings ('0600'): a YAML 1.2 `mode: 0600` is the decimal number 600, a
 * classic way to end up with a world-readable key, so numbers are not accepted.
 */
export const ModeSchema = Type.String({ pattern: '^0?[0-7]{3,4}$', description: "Octal permission bits as a quoted string, e.g. '0600'." });

export function parseMode(mode: string | undefined): number | undefined {
  return mode === undefined ? undefined : parseInt(mode, 8);
}

export const BecomeSchema = Type.Optional(Type.Boolean({ description: "Run as root through sudo (default: the inventory's `become`)." }));

/** Where content comes from: a state-dir artifact, a file already on the host, or inline text. */
export const ContentSourceSchema = Type.Union([
  Type.Object({ artifact: Type.String({ minLength: 1, description: 'Path inside the state dir artifacts/, e.g. bundles/etcd-ca-bundle.crt.' }) }, { additionalProperties: false }),
  Type.Object({ hostFile: Type.String({ minLength: 1, description: 'A file on the same host (read with the same `become`).' }) }, { additionalProperties: false }),
  Type.Object({ content: Type.String({ description: 'Inline content.' }) }, { additionalProperties: false }),
]);
export type ContentSource = Static<typeof ContentSourceSchema>;

/** A kubeconfig credential: embedded from a content source (`*-data`), or a file path reference. */
export const KubeconfigValueSchema = Type.Union([
  ContentSourceSchema,
  Type.Object({ path: Type.String({ minLength: 1, description: 'Reference the file by path instead of embedding it.' }) }, { additionalProperties: false }),
]);
export type KubeconfigValue = Static<typeof KubeconfigValueSchema>;
