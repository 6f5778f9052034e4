import { isRealLayout, type AnyLayout } from '../lab-state.js';
import { etcdOnlyLayout } from './etcd-only.js';
import type { LabLayout } from './types.js';

/**
 * The loopback layout a lab's state names: etcd-only (Debian's real etcd), the one left. Throws
 * for the real labs (lab/real/ has their verbs) and for a name no loopback layout has any more (a
 * state.json of the retired emulated binary lab; `down` still takes such a lab down, as it needs no
 * layout).
 */
export function layoutByName(name: AnyLayout): LabLayout {
  if (isRealLayout(name)) throw new Error(`the ${name} lab runs the real components: this verb is not available for it yet (lab/real/)`);
  if (name === 'etcd-only') return etcdOnlyLayout;
  throw new Error(`no emulated ${String(name)} layout any more: take that lab down (npm run lab -- down --purge) and bring up a real one (--layout kubeadm|binary|kubespray)`);
}
