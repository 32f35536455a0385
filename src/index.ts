/** keypost's library API. */
export * from './errors.js';
export * from './identity/index.js';
export * from './protocol/index.js';
export { useBackend, backends, crypto, systemRandom, seededRandom, type RandomSource } from './crypto/index.js';
export { LIMITS, encode, decode } from './wire/index.js';
export * as schema from './wire/schema.js';
export { writeKeyFile, readKeyFile } from './client/keystore.js';
export * from './discovery/index.js';
