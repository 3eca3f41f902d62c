export * from './membership/index.js';
export * from './multicast/index.js';
