export { encode, decode, MAX_UINT, type StructT, type Decoded } from './codec.js';
export * as schema from './schema.js';
export { LIMITS } from './schema.js';
