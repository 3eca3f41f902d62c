export * from './ids.js';
export * from './envelope.js';
export * from './codec.js';
export * from './hash.js';
export * from './body.js';
export * from './utf8.js';
export * from './describe.js';
