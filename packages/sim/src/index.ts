/**
 * `@steadfast/sim`: the deterministic simulator. A seeded PRNG, a simulated network with faults,
 * a cluster harness with crash and restart, a nemesis, fast-check arbitraries for fault
 * schedules, and the replay command of a seed. Tests only: production code never imports it.
 */
export * from './prng.js';
export * from './faults.js';
export * from './network.js';
export * from './nemesis.js';
export * from './simulation.js';
export * from './replay.js';
export * from './arbitraries.js';
export * from './files.js';
