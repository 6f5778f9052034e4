import { Type, type Static } from '@sinclair/typebox';
import { FileEditSchema } from '../file-patch/schema.js';
import { BecomeSchema, RemotePathSchema } from '../shared/schemas.js';
import { MAX_WAIT_SECONDS } from '../../core/async.js';

export const StaticPodHoldSchema = Type.Object(
  {
    action: Type.Union([Type.Literal('hold'), Type.Literal('release')], {
      description:
        '`hold`: the manifest is renamed to a dot-file beside it (the kubelet ignores dot-files), so the kubelet stops the pod gracefully (SIGTERM, its grace period); the task waits until no container of it runs. `release`: the manifest is renamed back and the task waits for a running container. Both are idempotent (a resumed or rolled-back run finds the state and continues).',
    }),
    container: Type.String({ minLength: 1, description: 'The container name (crictl ps --name), e.g. kube-apiserver.' }),
    manifest: Type.Optional(RemotePathSchema('The static pod manifest (default /etc/kubernetes/manifests/<container>.yaml).')),
    edits: Type.Optional(
      Type.Array(FileEditSchema, {
        description:
          "release only: file-patch's edits (e.g. set-flag in: manifest), applied to the manifest as it is put back, so a flag that had to change anyway takes effect in the pod's one start instead of a restart of its own (issue 19). A change of the manifest like file-patch's: backed up, undone by a rollback, planned with its diff by a dry run.",
      }),
    ),
    drainPort: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 65535,
        description:
          'hold, and a release for its undo (a rollback holds the pod again): the TCP port the component listens on (kube-apiserver: 6443). Once nothing listens on it any more (the component got the kubelet\'s SIGTERM and closed its listener), kcarun lets stopTimeoutSeconds pass for its in-flight requests and stops the container (`crictl stop --timeout 0`) instead of waiting out its pod\'s grace period (kube-apiserver keeps its watch connections open until SIGKILL, 30 s). Unset: the kubelet\'s grace period.',
      }),
    ),
    stopTimeoutSeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 3600, default: 5, description: 'With drainPort: seconds from the closed port to that stop (the in-flight requests\' drain).' })),
    timeoutSeconds: Type.Optional(Type.Number({ minimum: 1, maximum: MAX_WAIT_SECONDS, default: 120, description: 'How long to wait for the pod to stop (hold) or a container to run (release).' })),
    pollSeconds: Type.Optional(Type.Number({ minimum: 0.1, default: 1 })),
    become: BecomeSchema,
  },
  { additionalProperties: false },
);
export type StaticPodHoldParams = Static<typeof StaticPodHoldSchema>;
