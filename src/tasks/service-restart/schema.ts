import { Type, type Static } from '@sinclair/typebox';
import { BecomeSchema, RemotePathSchema } from '../shared/schemas.js';
import { MAX_WAIT_SECONDS } from '../../core/async.js';

export const ServiceRestartSchema = Type.Object(
  {
    method: Type.Union([Type.Literal('systemd'), Type.Literal('static-pod'), Type.Literal('command')], {
      description: "How the component runs: a systemd unit, a kubelet static pod, or the inventory's own restart command.",
    }),
    unit: Type.Optional(Type.String({ minLength: 1, description: 'systemd: the unit, e.g. etcd or etcd.service.' })),
    daemonReload: Type.Optional(Type.Boolean({ default: true, description: 'systemd: run daemon-reload first (the unit file may have changed).' })),
    container: Type.Optional(Type.String({ minLength: 1, description: 'static-pod: the container name (crictl ps --name), e.g. kube-apiserver.' })),
    strategy: Type.Optional(
      Type.Union([Type.Literal('crictl-stop'), Type.Literal('move-manifest'), Type.Literal('annotation'), Type.Literal('auto')], {
        default: 'crictl-stop',
        description:
          "static-pod: `crictl-stop` stops the container (the kubelet starts a new one, after its CrashLoop back-off when the same pod restarted within 10 minutes: 10, 20, 40 s...); `move-manifest` moves the manifest out and back (same pod UID, so the back-off stays; the manifest is absent meanwhile); `annotation` sets kcarun.io/restarted-at in the manifest's pod metadata (a new pod UID: the kubelet stops the old pod gracefully and starts the new one without back-off; the manifest is never absent; but the kubelet first re-creates the mirror pod through the node's apiserver, which stalls while a stacked etcd restarts); `auto`: crictl-stop for the first restart of a pod's container (no back-off yet), annotation after. Every strategy only waits when the manifest changed after the container started (the kubelet replaces the pod by itself).",
      }),
    ),
    stopTimeoutSeconds: Type.Optional(
      Type.Number({
        minimum: 0,
        default: 0,
        description: 'static-pod crictl-stop/auto: seconds between SIGTERM and SIGKILL (crictl stop --timeout; 0 kills at once; 30 is the kubelet\'s own default grace period). With drainPort (static-pod or systemd): the in-flight requests\' drain after the port closed.',
      }),
    ),
    drainPort: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 65535,
        description:
          "static-pod or systemd: the TCP port the component listens on (kube-apiserver: 6443). systemd: while `systemctl restart` waits for the old main process to end, once nothing listens on that port any more (systemd's SIGTERM arrived and the component closed its listener), kcarun lets stopTimeoutSeconds pass and sends that process the SIGKILL systemd sends after TimeoutStopSec (kube-apiserver otherwise holds its watch connections for its 60-s ShutdownTimeout: ~60 s per restart). static-pod: where the kubelet stops the old container gracefully while kcarun waits for the new one (a changed manifest, `annotation`), kcarun waits until nothing listens on that port any more (the component got the kubelet's SIGTERM and closed its listener), lets stopTimeoutSeconds pass for its in-flight requests and stops it (`crictl stop --timeout 0`, the kubelet's own end-of-grace SIGKILL) instead of letting it run out its pod's grace period (kube-apiserver keeps its watch connections open until SIGKILL, 30 s). Unset: the kubelet's grace period.",
      }),
    ),
    manifest: Type.Optional(RemotePathSchema('static-pod: the manifest (default /etc/kubernetes/manifests/<container>.yaml).')),
    command: Type.Optional(Type.String({ minLength: 1, 'x-shell': true, description: 'command: the restart command.' })),
    check: Type.Optional(Type.String({ minLength: 1, 'x-shell': true, description: 'A command that exits 0 once the component is back (polled).' })),
    timeoutSeconds: Type.Optional(Type.Number({ minimum: 1, maximum: MAX_WAIT_SECONDS, default: 120, description: 'How long to wait for the new process/container.' })),
    pollSeconds: Type.Optional(Type.Number({ minimum: 0.1, default: 1 })),
    become: BecomeSchema,
  },
  { additionalProperties: false },
);
export type ServiceRestartParams = Static<typeof ServiceRestartSchema>;
