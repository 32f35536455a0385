export * from './keys.js';
export * from './address.js';
