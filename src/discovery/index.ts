/** Discovery: resolving assertions over DNS and HTTPS, and publishing them (DESIGN part 2). */
export * from './resolver.js';
export * from './publish.js';
export { BUNDLE_MEDIA_TYPE, MAX_RECORDS_PER_SOURCE, fetchBundle, lookupTxt, type SourceResult } from './transport.js';
