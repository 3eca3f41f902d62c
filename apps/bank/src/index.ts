/**
 * `@steadfast/example-bank`: a bank of accounts and transfer coordinators, written the way a
 * Steadfast user writes actors. docs/example-bank.md walks through it.
 */
export * from './messages.js';
export * from './account.js';
export * from './coordinator.js';
export * from './bank.js';
export * from './client.js';
export * from './simulation.js';
