/**
 * Domain-separation labels. Every signature covers utf8(label) || 0x00 || the exact
 * bytes received, and every key derivation names its label as HKDF info, so a
 * signature or key made for one purpose is worthless for any other.
 */
import { concat, utf8 } from '../bytes/index.js';

export const LABELS = {
  assertion: 'keypost/v1/assertion',
  subkey: 'keypost/v1/subkey',
  revocation: 'keypost/v1/revocation',
  message: 'keypost/v1/message',
  notification: 'keypost/v1/notification',
  receipt: 'keypost/v1/receipt',
  retraction: 'keypost/v1/retraction',
  fetch: 'keypost/v1/fetch',
  request: 'keypost/v1/request',
  pow: 'keypost/v1/pow',
  stanza: 'keypost/v1/stanza',
  payload: 'keypost/v1/payload',
  commitment: 'keypost/v1/key-commitment',
  hint: 'keypost/v1/notification-hint',
  keyfile: 'keypost/v1/keyfile',
} as const;

export type Label = (typeof LABELS)[keyof typeof LABELS];

const prefixes = new Map<string, Uint8Array>();
/** utf8(label) || 0x00 || parts... (labels contain no NUL, so this is unambiguous). */
export function labelled(label: Label, ...parts: Uint8Array[]): Uint8Array {
  let p = prefixes.get(label);
  if (!p) prefixes.set(label, (p = concat(utf8(label), Uint8Array.of(0))));
  return concat(p, ...parts);
}
