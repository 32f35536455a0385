/**
 * Key files on disk: created with mode 0600 (never readable by anyone else, even for an
 * instant), flushed to disk before they appear under their name, never overwriting an
 * existing key (losing an identity key loses the address), and refused on read if
 * group or others can read them, as ssh does.
 */
import { closeSync, fchmodSync, fstatSync, fsyncSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { KeypostError } from '../errors.js';
import { systemRandom } from '../crypto/index.js';
import { openKeyFile, sealKeyFile, type Protection, type SecretKey } from '../protocol/keyfile.js';

function fsyncDir(dir: string) {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function writeKeyFile(path: string, key: SecretKey, protection: Protection): void {
  const bytes = sealKeyFile(key, protection, systemRandom);
  const tmp = `${path}.${Buffer.from(systemRandom(8)).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    try {
      fchmodSync(fd, 0o600); // whatever the umask
      writeSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, path); // atomic, and fails if a key file is already there
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new KeypostError('KEYFILE_EXISTS', path);
      throw e;
    }
    fsyncDir(dirname(path));
  } finally {
    unlinkSync(tmp);
  }
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
