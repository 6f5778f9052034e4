import { KcarunError } from '../core/errors.js';
import { deletePath, getPath, setPath, type EditResult } from './yaml-path.js';

/**
 * Settings in an etcd YAML config file (`etcd --config-file`, ETCD_CONFIG_FILE), named by their
 * key path (`client-transport-security.trusted-ca-file`) or by the command-line flag spelling
 * (`trusted-ca-file`, `--peer-cert-file`), mapped as etcd's own config parsing does
 * (go.etcd.io/etcd server/embed/config.go: `configJSON.ClientSecurityJSON`
 * `json:"client-transport-security"`, `PeerSecurityJSON` `json:"peer-transport-security"`, each a
 * `securityConfig` with `cert-file`, `key-file`, `client-cert-file`, `client-key-file`,
 * `client-cert-auth`, `trusted-ca-file`, `auto-tls`; every other flag is a top-level key of the
 * same name). A TLS flag written at the top level of the file is ignored by etcd, so it is never
 * written there.
 */
const TLS_KEYS = ['cert-file', 'key-file', 'client-cert-file', 'client-key-file', 'client-cert-auth', 'trusted-ca-file', 'auto-tls'] as const;
const BOOLEAN_KEYS = new Set(['client-cert-auth', 'auto-tls']);

/** The config file's key path for a setting given as a flag (with or without `--`) or as a path. */
export function etcdConfigKey(setting: string): string {
  const name = setting.replace(/^-+/, '');
  if (name === '') throw new KcarunError('E_TASK', 'empty etcd setting name');
  if (name.includes('.')) return name;
  if (name.startsWith('peer-')) {
    const rest = name.slice('peer-'.length);
    if ((TLS_KEYS as readonly string[]).includes(rest)) return `peer-transport-security.${rest}`;
  }
  if ((TLS_KEYS as readonly string[]).includes(name)) return `client-transport-security.${name}`;
  return name;
}

/** The value as etcd's YAML expects it: booleans for client-cert-auth / auto-tls, else the string. */
function typedValue(key: string, value: string, current: unknown): string | boolean | number {
  const leaf = key.slice(key.lastIndexOf('.') + 1);
  if ((BOOLEAN_KEYS.has(leaf) || typeof current === 'boolean') && /^(true|false)$/.test(value)) return value === 'true';
  if (typeof current === 'number' && /^-?\d+$/.test(value)) return Number(value);
  return value;
}

export function getEtcdConfigSetting(text: string, setting: string): unknown {
  return getPath(text, etcdConfigKey(setting));
}

/** Sets one setting; only that value's bytes change when the key exists (quoting kept), else the key is added. */
export function setEtcdConfigSetting(text: string, target: { flag: string; value: string }): EditResult {
  const key = etcdConfigKey(target.flag);
  return setPath(text, key, typedValue(key, target.value, getPath(text, key)));
}

export function removeEtcdConfigSetting(text: string, target: { flag: string }): EditResult {
  return deletePath(text, etcdConfigKey(target.flag));
}
