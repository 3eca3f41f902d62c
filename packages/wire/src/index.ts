/**
 * `@steadfast/wire`: what travels between nodes. Branded ids and addresses (`nodeId`, `actorId`,
 * `address`, `MessageId`), the five envelope kinds with their append-only wire tags, and the
 * authenticated codec that turns one envelope into one self-contained HMAC-signed UDP frame and
 * back without ever throwing on bad bytes. Also the canonical state hash written into traces
 * (`stableHash`) and the body bytes a layer uses to split a large body over several frames.
 * docs/wire.md describes the frame format byte by byte, the limits and key rotation.
 */
export * from './ids.js';
export * from './envelope.js';
export * from './codec.js';
export * from './hash.js';
export * from './body.js';
export * from './utf8.js';
export * from './describe.js';
