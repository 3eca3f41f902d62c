import { defineConfig } from 'vitest/config';

// One vitest run covers every workspace package, so `pnpm test` prints one summary. The files are
// split in two projects that run one after the other (`sequence.groupOrder`):
//
// - `simulated`: unit, property and simulation tests. They use no real clock, socket or process
//   (the simulator and fake timers drive time), so their outcome does not depend on how fast they
//   run, and two of them run at once, one per core: they are most of the suite's CPU.
// - `real`: tests that start node processes, send real UDP datagrams, use the wall clock, build a
//   private network or kill a process mid-write. They run one file at a time, alone, as before the
//   split: their protocols must survive any timing, but a test should not have to share the two
//   cores with a simulation to show it.
//
// A new test file that starts processes, opens sockets, waits on the wall clock or needs a store
// to survive a kill belongs in `realTests`; one of the `simulated` project that starts a process
// or opens a socket fails, saying so (vitest.simulated-setup.ts).
const realTests = [
  'apps/cli/src/**/*.test.ts',
  'packages/net/src/**/*.test.ts',
  'packages/store/src/**/*.test.ts',
  'packages/*/src/**/*.process.test.ts',
];

const allTests = ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'simulated',
          include: allTests,
          exclude: realTests,
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
          setupFiles: ['./vitest.simulated-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'real',
          include: realTests,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
