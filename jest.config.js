// Jest runs the compiled ES modules in dist/ (tsc is the only TypeScript compiler in the
// build), in ESM mode via --experimental-vm-modules.
// roots: only dist/ is crawled, so etcd's .snap files under .cluster/ never look like Jest snapshots.
const common = {
  testEnvironment: 'node', transform: {}, moduleFileExtensions: ['js', 'json'],
  roots: ['<rootDir>/dist'], modulePathIgnorePatterns: ['<rootDir>/.cluster/', '<rootDir>/.tools/'],
};
export default {
  // testTimeout is a global option in Jest (ignored inside projects): generous for cluster tests.
  testTimeout: 120000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/dist/test/unit/**/*.test.js', '<rootDir>/dist/test/golden/**/*.test.js'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/dist/test/integration/**/*.test.js'],
      globalSetup: '<rootDir>/dist/test/helpers/global-setup.js',
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/dist/test/e2e/**/*.test.js'],
      globalSetup: '<rootDir>/dist/test/helpers/global-setup.js',
    },
  ],
};
