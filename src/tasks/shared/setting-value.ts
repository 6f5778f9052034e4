import { getEnvFileSetting } from '../../edit/env-file.js';
import { getEtcdConfigSetting } from '../../edit/etcd-config.js';
import { getKubeletConfigSetting } from '../../edit/kubelet-config.js';
import { getManifestFlag } from '../../edit/manifest-flag.js';
import { getUnitFlag } from '../../edit/unit-file.js';

/** Where a component's settings live, as file-patch's set-flag `in`. */
export type SettingsIn = 'manifest' | 'unit' | 'etcd-config' | 'env-file' | 'kubelet-config';

/** The value a setting has in the file, as the component would read it; undefined when unset. */
export function settingValue(text: string, where: SettingsIn, flag: string): unknown {
  switch (where) {
    case 'manifest':
      return getManifestFlag(text, { flag });
    case 'unit':
      return getUnitFlag(text, { flag });
    case 'etcd-config':
      return getEtcdConfigSetting(text, flag);
    case 'env-file':
      return getEnvFileSetting(text, { flag });
    case 'kubelet-config':
      return getKubeletConfigSetting(text, flag);
  }
}
