import { KcarunError } from '../core/errors.js';
import { deletePath, getPath, setPath, type EditResult } from './yaml-path.js';

/**
 * Settings in a KubeletConfiguration file (kubeadm's /var/lib/kubelet/config.yaml, or JSON),
 * named by the kubelet's command-line flag or by the field path itself. The flag -> field names
 * are those of k8s.io/kubelet/config/v1beta1 (the flags' own help says which field replaces them);
 * only the flags that concern certificates, trust and their neighbours are mapped — any other
 * field is given by its path (`authentication.x509.clientCAFile`, `rotateCertificates`).
 */
export const KUBELET_FLAG_FIELDS: Readonly<Record<string, string>> = {
  'client-ca-file': 'authentication.x509.clientCAFile',
  'anonymous-auth': 'authentication.anonymous.enabled',
  'authentication-token-webhook': 'authentication.webhook.enabled',
  'authorization-mode': 'authorization.mode',
  'tls-cert-file': 'tlsCertFile',
  'tls-private-key-file': 'tlsPrivateKeyFile',
  'tls-min-version': 'tlsMinVersion',
  'rotate-certificates': 'rotateCertificates',
  'rotate-server-certificates': 'serverTLSBootstrap',
  'cert-dir': 'certDirectory',
  'static-pod-path': 'staticPodPath',
  'cluster-domain': 'clusterDomain',
  'cgroup-driver': 'cgroupDriver',
};
const BOOLEAN_FIELDS = new Set(['authentication.anonymous.enabled', 'authentication.webhook.enabled', 'rotateCertificates', 'serverTLSBootstrap']);

/** The field path for a flag (with or without `--`) or a path given as is (camelCase or dotted). */
export function kubeletConfigField(setting: string): string {
  const name = setting.replace(/^-+/, '');
  const mapped = KUBELET_FLAG_FIELDS[name];
  if (mapped) return mapped;
  if (!name.includes('-')) return name;
  throw new KcarunError(
    'E_TASK',
    `no KubeletConfiguration field known for the kubelet flag --${name}: give the field path instead (e.g. authentication.x509.clientCAFile); mapped flags: ${Object.keys(KUBELET_FLAG_FIELDS).join(', ')}`,
  );
}

function typedValue(field: string, value: string, current: unknown): string | boolean {
  if ((BOOLEAN_FIELDS.has(field) || typeof current === 'boolean') && /^(true|false)$/.test(value)) return value === 'true';
  return value;
}

export function getKubeletConfigSetting(text: string, setting: string): unknown {
  return getPath(text, kubeletConfigField(setting));
}

/** Sets one field; only that value's bytes change when it exists, else it is added (maps created on the way). */
export function setKubeletConfigSetting(text: string, target: { flag: string; value: string }): EditResult {
  const field = kubeletConfigField(target.flag);
  return setPath(text, field, typedValue(field, target.value, getPath(text, field)));
}

export function removeKubeletConfigSetting(text: string, target: { flag: string }): EditResult {
  return deletePath(text, kubeletConfigField(target.flag));
}
