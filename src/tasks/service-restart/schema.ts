import { Type, type Static } from '@sinclair/typebox';
import { BecomeSchema } from '../shared/schemas.js';

export const ServiceRestartSchema = Type.Object(
  {
    method: Type.Union([Type.Literal('systemd'), Type.Literal('static-pod'), Type.Literal('command')], {
      description: "How the component runs: a systemd unit, a kubelet static pod, or the inventory's own restart command.",
    }),
    unit: Type.Optional(Type.String({ minLength: 1, description: 'systemd: the unit, e.g. etcd or etcd.service.' })),
    daemonReload: Type.Optional(Type.Boolean({ default: true, description: 'systemd: run daemon-reload first (the unit file may have changed).' })),
    container: Type.Optional(Type.String({ minLength: 1, description: 'static-pod: the container name (crictl ps --name), e.g. kube-apiserver.' })),
    strategy: Type.Optional(
      Type.Union([Type.Literal('crictl-stop'), Type.Literal('move-manifest')], {
        default: 'crictl-stop',
        description: 'static-pod: stop the container (the kubelet starts a new one), or move the manifest out and back.',
      }),
    ),
    manifest: Type.Optional(Type.String({ description: 'static-pod move-manifest: the manifest (default /etc/kubernetes/manifests/<container>.yaml).' })),
    command: Type.Optional(Type.String({ minLength: 1, 'x-shell': true, description: 'command: the restart command.' })),
    check: Type.Optional(Type.String({ minLength: 1, 'x-shell': true, description: 'A command that exits 0 once the component is back (polled).' })),
    timeoutSeconds: Type.Optional(Type.Number({ minimum: 1, default: 120, description: 'How long to wait for the new process/container.' })),
    pollSeconds: Type.Optional(Type.Number({ minimum: 0.1, default: 1 })),
    become: BecomeSchema,
  },
  { additionalProperties: false },
);
export type ServiceRestartParams = Static<typeof ServiceRestartSchema>;
