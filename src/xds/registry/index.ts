export * from './convert.js';
export * from './informer.js';
export * from './node.js';
export * from './registry.js';
