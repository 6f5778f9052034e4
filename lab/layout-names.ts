/**
 * The names `--layout` takes on the lab's command line (`npm run lab -- up`, `npm run demo`). The
 * plain names are the clusters users have, on the real components (issue 18: `up --layout kubeadm`
 * is a genuine kubeadm cluster); etcd-only is Debian's real etcd on loopback. The `-real` names of
 * sessions 13-21 stay accepted, for scripts and notes that use them. The emulated labs are retired
 * (issue 18): their names are refused with the real layout to use instead.
 */
import type { Layout } from './lab-state.js';

export type RealUpLayout = 'kubeadm' | 'binary' | 'kubespray';

export type LayoutChoice = { kind: 'real'; layout: RealUpLayout } | { kind: 'loopback'; layout: Layout };

const CHOICES: Record<string, LayoutChoice> = {
  kubeadm: { kind: 'real', layout: 'kubeadm' },
  binary: { kind: 'real', layout: 'binary' },
  kubespray: { kind: 'real', layout: 'kubespray' },
  'kubeadm-real': { kind: 'real', layout: 'kubeadm' },
  'binary-real': { kind: 'real', layout: 'binary' },
  'kubespray-real': { kind: 'real', layout: 'kubespray' },
  // etcd alone has no Kubernetes component to emulate: its members are Debian's real etcd, on loopback
  'etcd-only': { kind: 'loopback', layout: 'etcd-only' },
};

/** Emulated labs that are gone, with the real layout that replaced each: named in the error. */
const RETIRED: Record<string, RealUpLayout> = { 'binary-emulated': 'binary', 'kubeadm-emulated': 'kubeadm' };

/** The names to show in usage and errors. */
export const LAYOUT_NAMES = 'kubeadm, binary, kubespray (real components), etcd-only';

/**
 * What a `--layout` value means. Throws an Error naming the accepted values for any other (and, for
 * a retired emulated lab, the real layout to use instead).
 */
export function layoutChoice(name: string): LayoutChoice {
  const choice = Object.hasOwn(CHOICES, name) ? CHOICES[name] : undefined;
  if (choice) return choice;
  const instead = Object.hasOwn(RETIRED, name) ? `: the ${name} lab is retired, --layout ${RETIRED[name]} runs that layout on the real components` : '';
  throw new Error(`--layout must be one of ${LAYOUT_NAMES}; not ${JSON.stringify(name)}${instead}`);
}
