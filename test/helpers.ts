/** Shared fixtures: deterministic identities for tests. */
import { seededRandom } from '../src/crypto/index.js';
import { EncryptionKey, SigningKey, addressOf } from '../src/identity/index.js';
import { certifySubkey, identitySigner, PURPOSE, subkeySigner, type Signer } from '../src/protocol/index.js';

export const NOW = 1_790_000_000;

export interface User {
  name: string;
  identity: SigningKey;
  address: Uint8Array;
  enc: EncryptionKey;
  signer: Signer;
  device: Signer;
  delegate: Signer;
}

export function makeUser(name: string, now = NOW): User {
  const rnd = seededRandom(`user:${name}`);
  const identity = SigningKey.generate(rnd);
  const enc = EncryptionKey.generate(rnd);
  const dev = SigningKey.generate(rnd);
  const del = SigningKey.generate(rnd);
  const cert = (subkey: Uint8Array, purpose: 1 | 3) =>
    certifySubkey({ identity, purpose, subkey, notBefore: now - 86400, notAfter: now + 365 * 86400 });
  return {
    name,
    identity,
    address: addressOf(identity.typedKey),
    enc,
    signer: identitySigner(identity),
    device: subkeySigner(identity.typedKey, dev, cert(dev.publicKey, PURPOSE.device)),
    delegate: subkeySigner(identity.typedKey, del, cert(del.publicKey, PURPOSE.storeDelegate)),
  };
}

/** Assert that `f` throws a KeypostError with `code`. */
export function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code ?? `untyped: ${String(e)}`;
  }
  return 'ok';
}
