// Layering is enforced here: shared/ is platform-free, the renderer never reaches into electron/,
// and only the Electron entry and preload import 'electron'.
import tseslint from 'typescript-eslint'
import vue from 'eslint-plugin-vue'
import { builtinModules } from 'node:module'

const nodeModules = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)]
const restrict = (paths, patterns, message) => ({
  'no-restricted-imports': [
    'error',
    { paths: paths.map((name) => ({ name, message })), patterns: patterns.length ? [{ group: patterns, message }] : [] },
  ],
})

export default tseslint.config(
  { ignores: ['dist/**', '.tsbuild/**', 'node_modules/**', 'test-results/**', 'playwright-report/**'] },
  ...tseslint.configs.recommended,
  ...vue.configs['flat/recommended'],
  {
    files: ['**/*.vue'],
    languageOptions: { parserOptions: { parser: tseslint.parser } },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'vue/multi-word-component-names': 'off',
      'vue/max-attributes-per-line': 'off',
      'vue/singleline-html-element-content-newline': 'off',
      'vue/html-self-closing': 'off',
      'vue/html-indent': 'off',
      'vue/html-closing-bracket-newline': 'off',
      'vue/multiline-html-element-content-newline': 'off',
    },
  },
  {
    files: ['shared/**'],
    rules: restrict(
      [...nodeModules, 'electron', 'vue', 'pinia', 'ws'],
      ['**/electron/**', '**/renderer/**'],
      'shared/ is plain TypeScript: no Node, DOM, Electron or Vue imports',
    ),
  },
  {
    files: ['renderer/**'],
    ignores: ['renderer/vite.config.ts'],
    rules: restrict([...nodeModules, 'electron', 'ws'], ['**/electron/**'], 'The renderer talks to main only through shared/contract'),
  },
  {
    files: ['electron/**', 'e2e/**', 'bench/**', 'scripts/**'],
    ignores: ['electron/main/index.ts', 'electron/preload/**'],
    rules: restrict(['electron'], [], "Only electron/main/index.ts and the preload import 'electron'"),
  },
  // The main process in layers, each importing only those below it (tests may reach further):
  // consoles, hosts, os-info, files → backends → metrics → services → transports and the server that joins them.
  ...[
    ['consoles', ['backends', 'hosts', 'metrics', 'services', 'transports']],
    ['os-info', ['backends', 'hosts', 'metrics', 'services', 'transports']],
    ['files', ['backends', 'hosts', 'metrics', 'services', 'transports']],
    ['hosts', ['backends', 'metrics', 'services', 'transports']],
    ['backends', ['metrics', 'services', 'transports']],
    ['metrics', ['services', 'transports']],
    ['services', ['transports']],
  ].map(([layer, above]) => ({
    files: [`electron/main/${layer}/**`],
    ignores: ['**/*.test.ts'],
    rules: restrict(
      ['electron'],
      [...above.flatMap((dir) => [`**/${dir}/*`, `../${dir}/*`]), '../server', '../../server'],
      `electron/main/${layer}/ is below ${above.join(', ')} and the server: it must not import them`,
    ),
  })),
)
