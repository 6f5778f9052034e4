/**
 * The certificates kubeadm makes, by name. Kept apart from profiles.ts (which builds them and
 * imports the signing code) so task schemas can list them without loading any of that.
 */
export const PROFILE_NAMES = [
  'apiserver',
  'apiserver-kubelet-client',
  'apiserver-etcd-client',
  'front-proxy-client',
  'etcd-server',
  'etcd-peer',
  'etcd-healthcheck-client',
  'admin',
  'super-admin',
  'controller-manager',
  'scheduler',
  'kubelet-client',
] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];
