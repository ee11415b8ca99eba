import { defineConfig } from 'vitest/config';

// Two tiers: `unit` is pure and fast; `lab` drives real strongSwan/sshd in network
// namespaces, needs root and runs one file at a time (shared kernel state).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'lab',
          include: ['tests/lab/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
