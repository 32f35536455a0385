/** HChaCha20 subkey derivation (from @noble/ciphers) for running XChaCha20 on a ChaCha20 core. */
import { hchacha } from '@noble/ciphers/chacha.js';

const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);

function words(b: Uint8Array): Uint32Array {
  const w = new Uint32Array(b.length / 4);
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < w.length; i++) w[i] = v.getUint32(i * 4, true);
  return w;
}

/** XChaCha20 = ChaCha20 under key HChaCha20(key, nonce[0:16]) with nonce 0^4 || nonce[16:24]. */
export function xchachaSubkey(key: Uint8Array, nonce: Uint8Array): { subkey: Uint8Array; nonce12: Uint8Array } {
  const out = new Uint32Array(8);
  hchacha(SIGMA, words(key), words(nonce.subarray(0, 16)), out);
  const subkey = new Uint8Array(32);
  const v = new DataView(subkey.buffer);
  for (let i = 0; i < 8; i++) v.setUint32(i * 4, out[i]!, true);
  const nonce12 = new Uint8Array(12);
  nonce12.set(nonce.subarray(16, 24), 4);
  return { subkey, nonce12 };
}
