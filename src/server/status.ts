/** The only place error codes become HTTP statuses (docs/api.md, "Status codes"). */
import type { ErrorCode } from '../errors.js';

const BY_STATUS: Record<number, ErrorCode[]> = {
  400: [
    'WIRE_MALFORMED', 'WIRE_NONCANONICAL', 'WIRE_UNKNOWN_FIELD', 'WIRE_MISSING_FIELD', 'WIRE_BAD_TYPE', 'WIRE_BAD_VERSION',
    'ADDRESS_MALFORMED', 'ADDRESS_CHECKSUM', 'KEY_INVALID', 'KEY_SMALL_ORDER', 'KEY_UNSUPPORTED', 'EXPIRED', 'NOT_YET_VALID',
    'ROLLBACK', 'WRONG_TYPE', 'SUBJECT_MISMATCH', 'CONTENT_HASH_MISMATCH', 'DECRYPT_FAILED', 'INVALID_ARGUMENT',
    'KEYFILE_PASSPHRASE', 'KEYFILE_EXISTS', 'KEYFILE_PERMISSIONS',
  ],
  401: ['AUTH_REQUIRED', 'BAD_SIGNATURE'],
  402: ['POW_MISSING', 'POW_INSUFFICIENT'],
  403: ['NOT_REGISTERED', 'INVITE_INVALID', 'CERT_INVALID', 'CERT_PURPOSE', 'KEY_REVOKED', 'NOT_A_RECIPIENT', 'BLOCKED', 'STORE_NOT_AUTHORIZED'],
  404: ['NOT_FOUND'],
  409: ['REPLAY'],
  410: ['GONE'],
  413: ['WIRE_TOO_LARGE'],
  429: ['RATE_LIMITED', 'GREYLISTED'],
  500: ['INTERNAL'],
  502: ['DISCOVERY_FAILED'],
  503: ['UNAVAILABLE'],
  507: ['QUOTA_EXCEEDED'],
};

export const HTTP_STATUS = Object.fromEntries(
  Object.entries(BY_STATUS).flatMap(([status, codes]) => codes.map((c) => [c, Number(status)])),
) as Record<ErrorCode, number>;
