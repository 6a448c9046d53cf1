// Shared Envoy v3 plumbing: protos, type URLs, codecs, the ADS service and node ids.
export * from './types.js';
export * from './protos.js';
export * from './codec.js';
export * from './ads.js';
export * from './node.js';
export * from './path.js';
