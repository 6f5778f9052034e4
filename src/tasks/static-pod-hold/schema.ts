import { Type, type Static } from '@sinclair/typebox';
import { BecomeSchema } from '../shared/schemas.js';

export const StaticPodHoldSchema = Type.Object(
  {
    action: Type.Union([Type.Literal('hold'), Type.Literal('release')], {
      description:
        '`hold`: the manifest is renamed to a dot-file beside it (the kubelet ignores dot-files), so the kubelet stops the pod gracefully (SIGTERM, its grace period); the task waits until no container of it runs. `release`: the manifest is renamed back and the task waits for a running container. Both are idempotent (a resumed or rolled-back run finds the state and continues).',
    }),
    container: Type.String({ minLength: 1, description: 'The container name (crictl ps --name), e.g. kube-apiserver.' }),
    manifest: Type.Optional(Type.String({ minLength: 1, description: 'The static pod manifest (default /etc/kubernetes/manifests/<container>.yaml).' })),
    timeoutSeconds: Type.Optional(Type.Number({ minimum: 1, default: 120, description: 'How long to wait for the pod to stop (hold) or a container to run (release).' })),
    pollSeconds: Type.Optional(Type.Number({ minimum: 0.1, default: 1 })),
    become: BecomeSchema,
  },
  { additionalProperties: false },
);
export type StaticPodHoldParams = Static<typeof StaticPodHoldSchema>;
