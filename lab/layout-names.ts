/**
 * The names `--layout` takes on the lab's command line (`npm run lab -- up`, `npm run demo`). The
 * plain names are the clusters users have, on the real components (issue 18: `up --layout kubeadm`
 * is a genuine kubeadm cluster); the emulated labs (lab/components/) say so in their names. The
 * `-real` names of sessions 13-21 stay accepted, for scripts and notes that use them.
 */
import type { Layout } from './lab-state.js';

export type RealUpLayout = 'kubeadm' | 'binary' | 'kubespray';

export type LayoutChoice = { kind: 'real'; layout: RealUpLayout } | { kind: 'emulated'; layout: Layout };

const CHOICES: Record<string, LayoutChoice> = {
  kubeadm: { kind: 'real', layout: 'kubeadm' },
  binary: { kind: 'real', layout: 'binary' },
  kubespray: { kind: 'real', layout: 'kubespray' },
  'kubeadm-real': { kind: 'real', layout: 'kubeadm' },
  'binary-real': { kind: 'real', layout: 'binary' },
  'kubespray-real': { kind: 'real', layout: 'kubespray' },
  'kubeadm-emulated': { kind: 'emulated', layout: 'kubeadm' },
  'binary-emulated': { kind: 'emulated', layout: 'binary' },
  // etcd alone has no Kubernetes component to emulate: its members are Debian's real etcd
  'etcd-only': { kind: 'emulated', layout: 'etcd-only' },
};

/** The names to show in usage and errors. */
export const LAYOUT_NAMES = 'kubeadm, binary, kubespray (real components), kubeadm-emulated, binary-emulated, etcd-only';

/**
 * What a `--layout` value means. Throws an Error naming the accepted values for any other.
 */
export function layoutChoice(name: string): LayoutChoice {
  const choice = Object.hasOwn(CHOICES, name) ? CHOICES[name] : undefined;
  if (!choice) throw new Error(`--layout must be one of ${LAYOUT_NAMES}; not ${JSON.stringify(name)}`);
  return choice;
}
