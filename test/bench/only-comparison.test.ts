/**
 * What `npm run bench -- --only NAME` compares (bench/only-comparison.ts): since issue 18 the rotate-ca
 * comparison runs on the genuine kubeadm cluster under both its names, and none runs on the emulated
 * kubeadm lab. Nothing is started here: the comparisons themselves take a lab each (~40 min).
 */
import { describe, expect, it } from 'vitest';
import { onlyComparison } from '../../bench/only-comparison.js';
import { COMPARISONS } from '../../bench/rotation-vs-script.js';

describe('bench --only comparisons', () => {
  it('rotation and its old name real-rotation both run rotate-ca on the genuine cluster, into one results file', () => {
    for (const name of ['rotation', 'real-rotation']) {
      const only = onlyComparison(name);
      expect(only, name).toEqual({ comparison: 'rotate-ca-real', results: 'real-rotation' });
      expect(COMPARISONS[only.comparison].layout).toBe('kubeadm-real');
      expect(COMPARISONS[only.comparison].playbook).toBe('playbooks/rotate-ca.yaml');
    }
  });

  it('etcd-rotation stays on the etcd-only lab, with discovered vars', () => {
    const only = onlyComparison('etcd-rotation');
    expect(only.results).toBe('etcd-rotation');
    expect(COMPARISONS[only.comparison]).toMatchObject({ layout: 'etcd-only', discover: true });
  });

  it('no comparison runs on the emulated kubeadm lab', () => {
    expect(Object.keys(COMPARISONS).sort()).toEqual(['etcd-ca', 'rotate-ca-real']);
    for (const c of Object.values(COMPARISONS)) expect(['kubeadm-real', 'etcd-only']).toContain(c.layout);
  });

  it('refuses any other name, naming the accepted ones (no prototype keys)', () => {
    for (const bad of ['rotate-ca', 'scale', 'emulated-rotation', 'constructor', '__proto__', '']) {
      expect(() => onlyComparison(bad), bad).toThrow(/"rotation" \(or its old name "real-rotation"\), "etcd-rotation" or "scale"$/);
    }
  });
});
