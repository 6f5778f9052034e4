/**
 * What `--layout` means on the lab's command line (lab/layout-names.ts): the plain names are the real
 * components (issue 18's `npm run lab -- up --layout kubeadm`), etcd-only is Debian's etcd on
 * loopback, and the retired emulated labs are refused with the real layout to use instead.
 */
import { describe, expect, it } from 'vitest';
import { layoutChoice } from '../../lab/layout-names.js';

describe('lab --layout names', () => {
  it('plain names and the older -real names are the real components; etcd-only runs on loopback', () => {
    for (const l of ['kubeadm', 'binary', 'kubespray'] as const) {
      expect(layoutChoice(l)).toEqual({ kind: 'real', layout: l });
      expect(layoutChoice(`${l}-real`)).toEqual({ kind: 'real', layout: l });
    }
    expect(layoutChoice('etcd-only')).toEqual({ kind: 'loopback', layout: 'etcd-only' });
  });

  it('refuses anything else, naming what it takes (no prototype keys)', () => {
    for (const bad of ['kubespray-emulated', 'constructor', '__proto__', 'KUBEADM', '']) {
      expect(() => layoutChoice(bad), bad).toThrow(/--layout must be one of kubeadm, binary, kubespray \(real components\), etcd-only; not /);
    }
  });

  it('refuses the retired emulated labs, naming the real layout that replaced each', () => {
    expect(() => layoutChoice('binary-emulated')).toThrow(/not "binary-emulated": the binary-emulated lab is retired, --layout binary runs that layout on the real components$/);
    expect(() => layoutChoice('kubeadm-emulated')).toThrow(/not "kubeadm-emulated": the kubeadm-emulated lab is retired, --layout kubeadm runs that layout on the real components$/);
  });
});
