/**
 * Test helpers for `@steadfast/runtime` and the packages built on it (`@steadfast/runtime/testing`).
 * They import vitest, so only test files may import this entry point.
 */
export { transportComplianceSuite } from './transport-compliance.js';
export type { TransportComplianceOptions, TransportPair } from './transport-compliance.js';
