import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The lab and SSH tests start real sshd/etcd processes: run files one at a time so they
    // do not compete for the 2 cores and the loopback addresses.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
});
