/**
 * Key files on disk: created with mode 0600 (never readable by anyone else, even for an
 * instant) and refused on read if group or others can read them, as ssh does.
 */
import { closeSync, fchmodSync, fstatSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { KeypostError } from '../errors.js';
import { systemRandom } from '../crypto/index.js';
import { openKeyFile, sealKeyFile, type Protection, type SecretKey } from '../protocol/keyfile.js';

export function writeKeyFile(path: string, key: SecretKey, protection: Protection): void {
  const bytes = sealKeyFile(key, protection, systemRandom);
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    fchmodSync(fd, 0o600); // whatever the umask
    writeSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export function readKeyFile(path: string, passphrase?: string): SecretKey {
  const fd = openSync(path, 'r');
  try {
    if (process.platform !== 'win32' && (fstatSync(fd).mode & 0o077) !== 0) {
      throw new KeypostError('KEYFILE_PERMISSIONS', `${path} is accessible to group or others; chmod 600 it`);
    }
    return openKeyFile(readFileSync(fd), passphrase);
  } finally {
    closeSync(fd);
  }
}
