import type { Layout } from '../lab-state.js';
import { binaryLayout } from './binary.js';
import { kubeadmLayout } from './kubeadm.js';
import type { LabLayout } from './types.js';

export function layoutByName(name: Layout): LabLayout {
  return name === 'binary' ? binaryLayout : kubeadmLayout;
}
