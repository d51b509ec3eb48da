// The secrets the app needs (session cookie signing, the encryption keyring). Production takes
// them from configuration (config.ts refuses to start without them). Development generates them
// once and keeps them under the data directory (mode 0600), so sessions and sealed secrets survive
// restarts; when that directory cannot be written, fresh random ones are used for this process.
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.ts';
import { generateKeySpec, parseKeyring } from './crypto.ts';

export interface Secrets {
  sessionSecret: string;
  encryptionKeys: string;
  /** Where the generated ones are kept; null when they came from configuration or are in memory only. */
  file: string | null;
}

export const DEV_SECRETS_FILE = 'dev-secrets.json';

interface StoredSecrets {
  sessionSecret: string;
  encryptionKeys: string;
}

type SecretsConfig = Pick<Config, 'env' | 'sessionSecret' | 'encryptionKeys' | 'dataDir'>;

export function resolveSecrets(config: SecretsConfig): Secrets {
  if (config.sessionSecret !== null && config.encryptionKeys !== null) {
    return { sessionSecret: config.sessionSecret, encryptionKeys: config.encryptionKeys, file: null };
  }
  if (config.env !== 'development') {
    // loadConfig already refuses this; never invent production secrets.
    throw new Error('SESSION_SECRET and SIDECHART_ENCRYPTION_KEYS are required outside development');
  }
  const file = path.resolve(config.dataDir, DEV_SECRETS_FILE);
  let stored: StoredSecrets | null;
  let persisted = true;
  try {
    stored = readOrCreate(file);
  } catch (error) {
    if (!isUnwritable(error)) throw error;
    stored = generate();
    persisted = false;
  }
  return {
    sessionSecret: config.sessionSecret ?? stored.sessionSecret,
    encryptionKeys: config.encryptionKeys ?? stored.encryptionKeys,
    file: persisted ? file : null,
  };
}

function generate(): StoredSecrets {
  return { sessionSecret: randomBytes(48).toString('base64url'), encryptionKeys: generateKeySpec('dev1') };
}

function readOrCreate(file: string): StoredSecrets {
  const existing = read(file);
  if (existing !== null) return existing;
  mkdirSync(path.dirname(file), { recursive: true });
  // Write a private temporary file, then link it into place: the link fails if another process got
  // there first, so concurrent first starts agree on one set of secrets, and nobody reads half a file.
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}`;
  writeFileSync(temporary, `${JSON.stringify(generate(), null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(temporary);
  }
  const created = read(file);
  if (created === null) throw new Error(`${file} disappeared while it was being created`);
  return created;
}

function read(file: string): StoredSecrets | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const broken = new Error(`${file} is not a valid development secrets file; delete it to generate new ones`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw broken;
  }
  const { sessionSecret, encryptionKeys } = (parsed ?? {}) as Partial<Record<keyof StoredSecrets, unknown>>;
  if (typeof sessionSecret !== 'string' || sessionSecret.length < 32 || typeof encryptionKeys !== 'string') throw broken;
  try {
    parseKeyring(encryptionKeys);
  } catch {
    throw broken;
  }
  return { sessionSecret, encryptionKeys };
}

function isUnwritable(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOTDIR';
}
