// Authenticated encryption for third-party secrets we must store (Cliniko API keys, OIDC client
// secrets), as security.md requires: AES-256-GCM under keys from configuration, rotatable.
//
// Keyring spec (SIDECHART_ENCRYPTION_KEYS): `kid:base64key[,kid:base64key...]`. The first key is
// the primary and seals everything new; the others only open what they sealed earlier, so rotation
// is: put a new key first, keep the old one after it, re-seal what `needsRotation` reports, then
// drop the old key.
//
// Sealed token: `v1.<kid>.<iv>.<ciphertext>.<tag>` (base64url parts, 96-bit random IV per seal).
// The caller's `aad` names the secret's place (e.g. `tenant:<schema>:cliniko_api_key`) and is
// authenticated with the token's header, so a value copied to another tenant or column, or
// relabelled with another kid, does not open.
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { AppError } from './errors.ts';

const VERSION = 'v1';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Key ids appear in tokens (dot-separated) and in specs (colon/comma-separated). */
const KID = /^[A-Za-z0-9_-]{1,32}$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface Keyring {
  readonly primaryKid: string;
  /** KeyObjects, not Buffers: they print as `SecretKeyObject { ... }`, never as key bytes. */
  readonly keys: ReadonlyMap<string, KeyObject>;
}

export type SecretBoxFailure = 'malformed' | 'unknown_key' | 'unauthenticated' | 'invalid_input';

/** A sealed secret could not be opened (or a seal was misused). Never carries secret material. */
export class SecretBoxError extends AppError {
  readonly reason: SecretBoxFailure;

  constructor(reason: SecretBoxFailure, message: string) {
    super(500, `secret_${reason}`, message);
    this.name = 'SecretBoxError';
    this.reason = reason;
  }
}

export interface SecretBox {
  seal(plaintext: string, aad: string): string;
  open(sealed: string, aad: string): string;
  /** True when the token was sealed under a key other than the primary (re-seal it). */
  needsRotation(sealed: string): boolean;
}

/**
 * Parses a keyring spec. Errors name the entry (by position or kid) and the problem, never the
 * key text, so they are safe to print at boot.
 */
export function parseKeyring(spec: string): Keyring {
  if (typeof spec !== 'string' || spec.trim() === '') throw new Error('encryption keyring is empty');
  const entries = spec.split(',').map((entry) => entry.trim());
  const keys = new Map<string, KeyObject>();

  for (const [index, entry] of entries.entries()) {
    const position = `encryption key entry ${index + 1}`;
    if (entry === '') throw new Error(`${position} is empty`);
    const colon = entry.indexOf(':');
    if (colon === -1) throw new Error(`${position} is not of the form kid:base64key`);
    const kid = entry.slice(0, colon);
    const encoded = entry.slice(colon + 1);
    if (!KID.test(kid)) {
      throw new Error(`${position}: key id must be 1 to 32 letters, digits, '-' or '_'`);
    }
    if (keys.has(kid)) throw new Error(`${position}: key id "${kid}" appears more than once`);
    const bytes = decodeBase64Key(encoded);
    if (bytes === null) throw new Error(`${position} (kid "${kid}"): key is not valid base64`);
    if (bytes.length !== KEY_BYTES) {
      throw new Error(`${position} (kid "${kid}"): key is ${bytes.length} bytes, AES-256-GCM needs ${KEY_BYTES}`);
    }
    keys.set(kid, createSecretKey(bytes));
    bytes.fill(0);
  }

  const primaryKid = keys.keys().next().value;
  if (primaryKid === undefined) throw new Error('encryption keyring is empty');
  return { primaryKid, keys };
}

/** A fresh `kid:base64key` for .env files and docs. */
export function generateKeySpec(kid: string = `k${randomBytes(4).toString('hex')}`): string {
  if (!KID.test(kid)) throw new Error("key id must be 1 to 32 letters, digits, '-' or '_'");
  return `${kid}:${randomBytes(KEY_BYTES).toString('base64')}`;
}

export function createSecretBox(keyring: Keyring): SecretBox {
  const primaryKey = keyring.keys.get(keyring.primaryKid);
  if (primaryKey === undefined) throw new Error('keyring has no key for its primary kid');

  return {
    seal(plaintext, aad) {
      if (typeof plaintext !== 'string') throw new SecretBoxError('invalid_input', 'only strings can be sealed');
      checkAad(aad);
      const iv = randomBytes(IV_BYTES);
      const header = `${VERSION}.${keyring.primaryKid}`;
      const cipher = createCipheriv('aes-256-gcm', primaryKey, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(associatedData(header, aad));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [header, iv.toString('base64url'), ciphertext.toString('base64url'), tag.toString('base64url')].join('.');
    },

    open(sealed, aad) {
      checkAad(aad);
      const token = parseToken(sealed);
      const key = keyring.keys.get(token.kid);
      if (key === undefined) {
        throw new SecretBoxError('unknown_key', `sealed secret uses key id "${token.kid}", which is not in the keyring`);
      }
      const decipher = createDecipheriv('aes-256-gcm', key, token.iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(associatedData(`${VERSION}.${token.kid}`, aad));
      decipher.setAuthTag(token.tag);
      try {
        return Buffer.concat([decipher.update(token.ciphertext), decipher.final()]).toString('utf8');
      } catch {
        // GCM says nothing more specific, and neither should we: tampered, wrong key or wrong context.
        throw new SecretBoxError('unauthenticated', 'sealed secret failed authentication (tampered, wrong key or wrong context)');
      }
    },

    needsRotation(sealed) {
      const { kid } = parseToken(sealed);
      if (!keyring.keys.has(kid)) {
        throw new SecretBoxError('unknown_key', `sealed secret uses key id "${kid}", which is not in the keyring`);
      }
      return kid !== keyring.primaryKid;
    },
  };
}

interface Token {
  kid: string;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

function parseToken(sealed: unknown): Token {
  const malformed = (what: string): SecretBoxError => new SecretBoxError('malformed', `sealed secret is malformed: ${what}`);
  if (typeof sealed !== 'string') throw malformed('not a string');
  const parts = sealed.split('.');
  if (parts.length !== 5) throw malformed('expected 5 dot-separated parts');
  const [version, kid, iv, ciphertext, tag] = parts as [string, string, string, string, string];
  if (version !== VERSION) throw malformed('unknown version');
  if (!KID.test(kid)) throw malformed('bad key id');
  const ivBytes = decodeBase64Url(iv);
  if (ivBytes === null || ivBytes.length !== IV_BYTES) throw malformed('bad IV');
  const ciphertextBytes = decodeBase64Url(ciphertext);
  if (ciphertextBytes === null) throw malformed('bad ciphertext encoding');
  const tagBytes = decodeBase64Url(tag);
  if (tagBytes === null || tagBytes.length !== TAG_BYTES) throw malformed('bad tag');
  return { kid, iv: ivBytes, ciphertext: ciphertextBytes, tag: tagBytes };
}

function checkAad(aad: unknown): asserts aad is string {
  if (typeof aad !== 'string' || aad === '') {
    throw new SecretBoxError('invalid_input', 'a non-empty context (aad) is required to seal or open a secret');
  }
}

/** The header is authenticated too, so a token cannot be relabelled with another version or kid. */
function associatedData(header: string, aad: string): Buffer {
  return Buffer.from(`${header}|${aad}`, 'utf8');
}

/**
 * Strict decoding: Node's decoder skips characters it does not know and ignores non-zero padding
 * bits, which would let two different tokens decode to the same bytes. Only the canonical form passes.
 */
function decodeBase64Url(text: string): Buffer | null {
  if (!BASE64URL.test(text)) return null;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : null;
}

/** Standard base64 (padding optional) or base64url, canonical only. */
function decodeBase64Key(text: string): Buffer | null {
  const standard = text.replaceAll('-', '+').replaceAll('_', '/');
  if (standard === '' || !BASE64.test(standard)) return null;
  if (standard.includes('=') && standard.length % 4 !== 0) return null;
  const bytes = Buffer.from(standard, 'base64');
  return bytes.toString('base64').replace(/=+$/, '') === standard.replace(/=+$/, '') ? bytes : null;
}
