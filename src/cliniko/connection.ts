// A clinic's Cliniko connection: one API key per clinic, sealed with the secret box (AES-256-GCM,
// keys from configuration) under a context naming the clinic's schema, so a sealed key copied to
// another clinic does not open. The shard comes from the key and is validated; the key is verified
// against Cliniko (GET /user and GET /settings) before it is stored, and the account it belongs to
// is recorded. `sidechart cliniko ...` and the admin page call these same functions.
//
// The plain key exists only in memory, for the duration of a call; it is never logged, returned in
// a summary, or put into an error message.
import type { FastifyBaseLogger } from 'fastify';
import type { AppError } from '../infra/errors.ts';
import { connectionErrors } from './errors.ts';
import type { SecretBox } from '../infra/crypto.ts';
import type { ClinicScope } from '../tenancy/clinic.ts';
import type { TenantDb } from '../tenancy/tenant-database.ts';
import { apiBaseForShard, shardFromApiKey } from './shard.ts';
import type { ClinikoClient } from './client/client.ts';
import { isClinikoError, type ClinikoError } from './client/errors.ts';

/** Where a clinic's sealed key lives: part of the authenticated data, so it opens only there. */
export function apiKeyAad(schemaName: string): string {
  return `tenant:${schemaName}:cliniko_api_key`;
}

export interface ConnectionSummary {
  shard: string;
  accountId: string;
  accountSubdomain: string | null;
  accountName: string | null;
  clinikoUserId: string | null;
  clinikoUserName: string | null;
  connectedBy: string;
  connectedAt: Date;
  keySealedAt: Date;
  /** The key was sealed under an older encryption key: `sidechart cliniko rekey` re-seals it. */
  keyNeedsRotation: boolean;
  /** False when the stored key cannot be opened with the configured keyring. */
  keyReadable: boolean;
}

/** The key for a call to Cliniko, or why there is none. */
export type ClinikoCredentials =
  | { status: 'connected'; apiKey: string; shard: string }
  | { status: 'not_connected' }
  | { status: 'unreadable'; message: string };

const VERIFY_DEADLINE_MS = 10_000;

export interface ConnectInput {
  apiKey: string;
  /** `cli`, or the admin's e-mail address. */
  connectedBy: string;
  client: ClinikoClient;
  box: SecretBox;
  /** The API base template, only to name the host in error messages. */
  apiBase: string;
  deadlineMs?: number;
  /** Runs in the transaction that stores the key (the admin page's audit event: both or neither). */
  alsoInTransaction?: (trx: TenantDb, summary: { shard: string; accountId: string; accountName: string | null }) => Promise<void>;
}

/**
 * Verifies an API key with Cliniko and stores it sealed, replacing any previous connection.
 * Throws an AppError whose message an admin can act on (never containing the key).
 */
export async function connectCliniko(clinic: ClinicScope, input: ConnectInput): Promise<ConnectionSummary> {
  const apiKey = input.apiKey.trim();
  const shard = shardFromApiKey(apiKey);
  if (!shard.ok) throw connectionErrors.invalidApiKey(shard.reason);
  const options = { deadlineMs: input.deadlineMs ?? VERIFY_DEADLINE_MS };
  let verified;
  try {
    const [user, settings] = await Promise.all([input.client.getUser(apiKey, options), input.client.getSettings(apiKey, options)]);
    verified = { user, settings };
  } catch (error) {
    if (isClinikoError(error)) throw verificationError(error, shard.shard, input.apiBase);
    throw error;
  }
  const { user, settings } = verified;
  const userName = [user.first_name, user.last_name].filter((part) => typeof part === 'string' && part.trim() !== '').join(' ');
  const row = {
    api_key_sealed: input.box.seal(apiKey, apiKeyAad(clinic.schemaName)),
    shard: shard.shard,
    account_id: settings.account.id,
    account_subdomain: settings.account.subdomain ?? null,
    account_name: settings.account.name ?? null,
    cliniko_user_id: /^[0-9]{1,19}$/.test(user.id) ? user.id : null,
    cliniko_user_name: userName === '' ? (user.email ?? null) : userName,
    connected_by: input.connectedBy,
    connected_at: new Date(),
    key_sealed_at: new Date(),
  };
  await clinic.db.transaction().execute(async (trx) => {
    await trx
      .insertInto('cliniko_connection')
      .values(row)
      .onConflict((oc) => oc.column('id').doUpdateSet(row))
      .execute();
    // Records whose last refresh failed (perhaps because of the old key) are retried at once
    // rather than after PATIENT_SYNC_RETRY_SECONDS; the failure stays shown until a refresh works.
    await trx.updateTable('patients').set({ sync_attempted_at: null }).where('sync_error', 'is not', null).execute();
    await input.alsoInTransaction?.(trx, { shard: row.shard, accountId: row.account_id, accountName: row.account_name });
  });
  const summary = await clinikoStatus(clinic, input.box);
  if (summary === null) throw new Error('the Cliniko connection vanished right after it was stored');
  return summary;
}

function verificationError(error: ClinikoError, shard: string, apiBase: string): AppError {
  const host = safeHost(apiBase, shard);
  switch (error.kind) {
    case 'unauthorized':
      return connectionErrors.keyRefused(host, shard);
    case 'forbidden':
      return connectionErrors.keyForbidden(error.message);
    case 'invalid_key':
      return connectionErrors.invalidApiKey(error.message);
    case 'rate_limited':
      return connectionErrors.rateLimited(error.message);
    case 'not_found':
      return connectionErrors.unexpected(host);
    case 'timeout':
      return connectionErrors.timeout(host, error.message);
    case 'bad_response':
      return connectionErrors.badResponse(host, error.message);
    case 'unavailable':
      return connectionErrors.unavailable(host, error.message);
  }
}

function safeHost(apiBase: string, shard: string): string {
  try {
    return new URL(apiBaseForShard(apiBase, shard)).host;
  } catch {
    return `the ${shard} shard`;
  }
}

/** The connection without its key, or null when the clinic has none. */
export async function clinikoStatus(clinic: ClinicScope, box: SecretBox): Promise<ConnectionSummary | null> {
  const row = await clinic.db.selectFrom('cliniko_connection').selectAll().executeTakeFirst();
  if (!row) return null;
  let keyReadable = true;
  let keyNeedsRotation = false;
  try {
    box.open(row.api_key_sealed, apiKeyAad(clinic.schemaName));
    keyNeedsRotation = box.needsRotation(row.api_key_sealed);
  } catch {
    keyReadable = false;
  }
  return {
    shard: row.shard,
    accountId: row.account_id,
    accountSubdomain: row.account_subdomain,
    accountName: row.account_name,
    clinikoUserId: row.cliniko_user_id,
    clinikoUserName: row.cliniko_user_name,
    connectedBy: row.connected_by,
    connectedAt: row.connected_at,
    keySealedAt: row.key_sealed_at,
    keyNeedsRotation,
    keyReadable,
  };
}

/**
 * Removes the connection. Returns whether there was one. `alsoInTransaction` runs in the same
 * transaction when there was one (the admin page's audit event).
 */
export async function disconnectCliniko(clinic: ClinicScope, alsoInTransaction?: (trx: TenantDb) => Promise<void>): Promise<boolean> {
  return clinic.db.transaction().execute(async (trx) => {
    const result = await trx.deleteFrom('cliniko_connection').executeTakeFirst();
    const removed = result.numDeletedRows > 0n;
    if (removed) await alsoInTransaction?.(trx);
    return removed;
  });
}

/**
 * The key to call Cliniko with. A key sealed under an older encryption key is re-sealed under the
 * primary one on the way (only if nobody replaced it meanwhile); a failure to do so is logged and
 * does not stop the call.
 */
export async function loadClinikoCredentials(
  clinic: ClinicScope,
  box: SecretBox,
  log?: Pick<FastifyBaseLogger, 'warn' | 'error'>,
): Promise<ClinikoCredentials> {
  const row = await clinic.db.selectFrom('cliniko_connection').select(['api_key_sealed', 'shard']).executeTakeFirst();
  if (!row) return { status: 'not_connected' };
  let apiKey: string;
  try {
    apiKey = box.open(row.api_key_sealed, apiKeyAad(clinic.schemaName));
  } catch (error) {
    log?.error({ err: error }, 'stored Cliniko API key cannot be opened');
    return {
      status: 'unreadable',
      message: 'Sidechart cannot read the stored Cliniko API key (the encryption key it was sealed with is not configured). An admin must connect Cliniko again.',
    };
  }
  if (box.needsRotation(row.api_key_sealed)) {
    await reseal(clinic, box, row.api_key_sealed, apiKey).catch((error: unknown) => log?.warn({ err: error }, 'could not re-seal the Cliniko API key'));
  }
  return { status: 'connected', apiKey, shard: row.shard };
}

/** Re-seals the stored key under the primary encryption key. */
export async function rekeyCliniko(clinic: ClinicScope, box: SecretBox): Promise<'resealed' | 'current' | 'not_connected'> {
  const row = await clinic.db.selectFrom('cliniko_connection').select(['api_key_sealed']).executeTakeFirst();
  if (!row) return 'not_connected';
  if (!box.needsRotation(row.api_key_sealed)) return 'current';
  const apiKey = box.open(row.api_key_sealed, apiKeyAad(clinic.schemaName));
  return (await reseal(clinic, box, row.api_key_sealed, apiKey)) ? 'resealed' : 'current';
}

async function reseal(clinic: ClinicScope, box: SecretBox, previous: string, apiKey: string): Promise<boolean> {
  const result = await clinic.db
    .updateTable('cliniko_connection')
    .set({ api_key_sealed: box.seal(apiKey, apiKeyAad(clinic.schemaName)), key_sealed_at: new Date() })
    .where('api_key_sealed', '=', previous)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
