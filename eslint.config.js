// Lint rules, including the import-boundary rule of the layer diagram in docs/architecture.md:
// a package imports only packages below it, and protocol code never touches sockets, disks,
// the wall clock or ambient randomness (those come through the runtime so the simulator can drive them).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Packages each package may import, from the layer diagram. */
const layers = {
  wire: [],
  runtime: ['wire'],
  store: [],
  net: ['wire', 'runtime'],
  sim: ['wire', 'runtime', 'store'],
  group: ['wire', 'runtime', 'store'],
  replication: ['wire', 'runtime', 'group'],
};
const allPackages = Object.keys(layers);
/** Tests may also import the simulator (it is a test tool, below nothing in production code). */
const testOnly = { net: ['sim'], group: ['sim'], replication: ['sim', 'store'] };

const boundaryRules = Object.entries(layers).flatMap(([name, allowed]) => [
  boundaryRule(
    name,
    allowed,
    [`packages/${name}/src/**/*.ts`],
    ['**/*.test.ts', '**/testing/**', '**/testing.ts'],
  ),
  boundaryRule(
    name,
    [...allowed, ...(testOnly[name] ?? [])],
    [
      `packages/${name}/src/**/*.test.ts`,
      `packages/${name}/src/**/testing/**`,
      `packages/${name}/src/testing.ts`,
    ],
    [],
  ),
]);

function boundaryRule(name, allowed, files, ignores) {
  return {
    files,
    ignores,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: allPackages
                .filter((other) => other !== name && !allowed.includes(other))
                .flatMap((other) => [`@steadfast/${other}`, `@steadfast/${other}/*`])
                .concat(['@steadfast/cli', '@steadfast/example-bank', '@steadfast/bench']),
              message: 'Imports point down the layer diagram only (docs/architecture.md).',
            },
          ],
        },
      ],
    },
  };
}

/** Files where real time, real randomness and node built-ins are the point. */
const hostFiles = [
  'packages/runtime/src/clock.ts',
  'packages/runtime/src/entropy.ts',
  'packages/runtime/src/hop-trace.ts',
  'packages/runtime/src/trace-file.ts',
  'packages/runtime/src/host/**/*.ts',
  'packages/runtime/src/testing/**/*.ts',
  'packages/net/src/**/*.ts',
  'packages/store/src/**/*.ts',
  'packages/wire/src/codec.ts',
  'packages/wire/src/hash.ts',
  'packages/sim/src/files.ts',
  'packages/sim/src/yield.ts',
  '**/*.test.ts',
];

const purityRule = {
  // The example app's actors follow the same rules as protocol code: they run in the simulator.
  files: ['packages/*/src/**/*.ts', 'apps/bank/src/**/*.ts'],
  ignores: hostFiles,
  rules: {
    'no-restricted-properties': [
      'error',
      { object: 'Date', property: 'now', message: 'Read time through the runtime Clock or the supervisor.' },
      {
        object: 'Math',
        property: 'random',
        message: 'Draw randomness through the supervisor or a seeded PRNG.',
      },
      { object: 'performance', property: 'now', message: 'Read time through the runtime Clock.' },
    ],
    'no-restricted-globals': [
      'error',
      { name: 'setTimeout', message: 'Use the runtime Clock timers.' },
      { name: 'setInterval', message: 'Use the runtime Clock timers.' },
    ],
    'no-restricted-syntax': [
      'error',
      {
        selector: 'ImportDeclaration[source.value=/^(node:|dgram|fs|net|crypto|lmdb|dgram-as-promised)/]',
        message: 'Protocol and runtime logic do no I/O of their own: take it through the runtime.',
      },
    ],
  },
};

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '**/.turbo/**', 'apps/studio/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  ...boundaryRules,
  purityRule,
);
