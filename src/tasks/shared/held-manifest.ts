import { posix } from 'node:path';

/**
 * Where static-pod-hold sets a manifest aside: a dot-file in the same folder, so the rename is atomic
 * (one file system) and the manifest is never half-there. The kubelet reads only names not starting
 * with '.' (k8s.io/kubernetes v1.37.2 pkg/kubelet/config/file.go:161 glob "[^.]*", file_linux.go:103).
 * E.g. /etc/kubernetes/manifests/kube-apiserver.yaml -> /etc/kubernetes/manifests/.kube-apiserver.yaml.kcarun-held
 */
export function heldPath(manifest: string): string {
  return posix.join(posix.dirname(manifest), `.${posix.basename(manifest)}.kcarun-held`);
}
