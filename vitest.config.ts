import { defineConfig } from 'vitest/config';

/**
 * The tests on the real clusters (docs/lab.md "The real kubeadm lab"): the genuine kubeadm cluster
 * (subnet 10.232.0.0/16), the hand-installed layout on the same binaries (10.233.0.0/16),
 * kubespray's layout (10.237.0.0/16) and the other stock playbooks on a kubeadm cluster (10.238.0.0/16). Each file
 * brings up its lab, checks, rotates and takes it down, comparing the machine's sysctls, routes, links
 * and mounts before and after, so the two run one after the other (fileParallelism false), never
 * beside each other: a second real lab's kubelets change the same sysctls. Most of their time waits on
 * the real components (a replaced static pod takes 40-60 s, a real apiserver's systemd restart ~60 s).
 * Nothing in the other projects touches what they compare (the loopback labs live in their own mount
 * namespaces on loopback, the reload facts on 127.219.0.x).
 */
export const REAL_CLUSTER_TESTS = [
  'test/e2e/rotate-kubeadm-real.test.ts',
  'test/e2e/rotate-binary-real.test.ts',
  'test/e2e/rotate-kubespray-real.test.ts',
  'test/e2e/other-playbooks-real.test.ts',
  'test/e2e/health-tasks-real.test.ts',
];

/**
 * The reload facts that run the pinned Kubernetes and etcd binaries on loopback (test/facts/harness.ts
 * `requireBinaries`); the rest of test/facts/ needs no binary and stays in `main`.
 */
export const BINARY_FACT_TESTS = ['test/facts/controllers.test.ts', 'test/facts/etcd-apiserver.test.ts'];

/**
 * Three projects, which `npm test` (scripts/test.sh) runs side by side after building the pinned
 * binaries (only `facts` and `real` need them). `npm run test:serial` runs every file of all three,
 * one at a time.
 */
export default defineConfig({
  test: {
    // The lab and SSH tests start real sshd/etcd processes: run files one at a time so they
    // do not compete for the 2 cores and the loopback addresses.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 180_000,
    reporters: ['default'],
    projects: [
      // Distinct group orders: in one `vitest run`, projects of the same group order run at the same time.
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: [...REAL_CLUSTER_TESTS, ...BINARY_FACT_TESTS], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'facts', include: BINARY_FACT_TESTS, sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: 'real', include: REAL_CLUSTER_TESTS, sequence: { groupOrder: 2 } } },
    ],
  },
});
