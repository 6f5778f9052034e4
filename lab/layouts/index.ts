import { isRealLayout, type AnyLayout } from '../lab-state.js';
import { binaryLayout } from './binary.js';
import { etcdOnlyLayout } from './etcd-only.js';
import { kubeadmLayout } from './kubeadm.js';
import type { LabLayout } from './types.js';

export function layoutByName(name: AnyLayout): LabLayout {
  if (isRealLayout(name)) throw new Error(`the ${name} lab runs the real components: this verb is not available for it yet (lab/real/)`);
  if (name === 'etcd-only') return etcdOnlyLayout;
  return name === 'binary' ? binaryLayout : kubeadmLayout;
}
