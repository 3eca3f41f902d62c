/**
 * `@steadfast/runtime`: nodes that host actors. An actor (a reducer from `defineActor`, or an xstate
 * v5 machine from `fromMachine`) handles one input at a time from its bounded mailbox and reaches
 * the world only through its `ActorContext`, whose clock, randomness and ids pass through a
 * `Supervisor`, so the same actor runs live, in the simulator, as a replica and under `trace replay`.
 * Also here: clocks, the `Transport` interface and the in-memory `MemoryNetwork`, the trace stream,
 * its file format and its replay. docs/actors.md describes writing actors, docs/transport.md the
 * transport contract and docs/trace-format.md trace files. The transport compliance suite is under
 * `@steadfast/runtime/testing` (tests only).
 */
export * from './actor.js';
export * from './clock.js';
export * from './context.js';
export * from './entropy.js';
export * from './hop-trace.js';
export * from './node.js';
export * from './router.js';
export * from './supervisor.js';
export * from './trace.js';
export * from './transport.js';
export * from './trace-file.js';
export * from './replay.js';
export * from './memory-transport.js';
export * from './actor-store.js';
