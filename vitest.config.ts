import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Property tests run 10,000 cases each; crypto on the noble backend is slow.
    testTimeout: 180_000,
    hookTimeout: 60_000,
  },
});
