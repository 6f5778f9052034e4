import { isRealLayout, type AnyLayout } from '../lab-state.js';
import { etcdOnlyLayout } from './etcd-only.js';
import { kubeadmLayout } from './kubeadm.js';
import type { LabLayout } from './types.js';

/**
 * The emulated layout a lab's state names. Throws for the real labs (lab/real/ has their verbs) and
 * for a name no emulated layout has any more (a state.json of the emulated binary lab, retired for
 * the real one in issue 18; `down` still takes such a lab down, as it needs no layout).
 */
export function layoutByName(name: AnyLayout): LabLayout {
  if (isRealLayout(name)) throw new Error(`the ${name} lab runs the real components: this verb is not available for it yet (lab/real/)`);
  if (name === 'etcd-only') return etcdOnlyLayout;
  if (name === 'kubeadm') return kubeadmLayout;
  throw new Error(`no emulated ${String(name)} layout any more: take that lab down (npm run lab -- down --purge) and bring up --layout binary (real components)`);
}
