// Lint rules carry the house limits from DESIGN.md: explicit return types on exports,
// no floating promises, and feature modules that do not reach into each other.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const features = ['operator', 'webhook', 'ca', 'xds', 'proxy', 'cli'];
// Declared shared interfaces, importable across one boundary: the operator reads the CA Secret
// (its layout and names), decides expiry and rotation with the CA's pure thresholds, and talks
// to the control plane's rotation driver through the annotation contract.
const allowed = {
  operator: { ca: ['rotation-contract.js', 'rotation.js', 'authority.js'] },
};
const featureBoundaries = features.map((f) => ({
  files: [`src/${f}/**/*.ts`],
  rules: {
    'no-restricted-imports': ['error', {
      patterns: features.filter((o) => o !== f).map((o) => ({
        group: [`../${o}/*`, `../../${o}/*`, ...(allowed[f]?.[o] ?? []).flatMap((m) => [`!../${o}/${m}`, `!../../${o}/${m}`])],
        message: `src/${f} must not import src/${o} internals; share through src/api or a small interface`,
      })),
    }],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tools/**', '.cluster/**', 'coverage/**', '*.config.js', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/explicit-module-boundary-types': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'hack/**/*.ts'],
    rules: { '@typescript-eslint/explicit-module-boundary-types': 'off' },
  },
  ...featureBoundaries,
);
