import { defineConfig } from 'vitest/config';

/**
 * The tests on the genuine kubeadm cluster (docs/lab.md "The real kubeadm lab"): one file, one lab
 * (subnet 10.232.0.0/16), which it brings up, checks, rotates and takes down, comparing the machine's
 * sysctls, routes, links and mounts before and after. Most of its ~30 min waits on the real kubelet
 * (a replaced static pod takes 40-60 s). Nothing in the other projects touches what it compares (the
 * emulated labs live in their own mount namespaces on loopback, the reload facts on 127.219.0.x).
 */
export const REAL_CLUSTER_TESTS = ['test/e2e/rotate-kubeadm-real.test.ts'];

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
