// The @fastify/session store: each clinic's sessions in its own schema (`sessions`), in its own
// region. The session ID names the region and schema (id.ts); the store reaches the table only
// through the clinic opener's scope (tenancy/clinic.ts), like every other tenant query. IDs it cannot place read as "no
// session" (never an error page) and are never written. Signed-in sessions are read through the
// in-process cache (cache.ts) when one is given; every write and destruction here forgets the entry.
import { sql } from 'kysely';
import type { Session } from 'fastify';
import type { Clinics } from '../../tenancy/clinic.ts';
import type { TenantDb } from '../../tenancy/tenant-database.ts';
import type { CachedSession, SessionCache } from './cache.ts';
import { parseSessionId, type SessionLocation } from './id.ts';

/** A session that never reached sign-in (only a return_to, a CSRF secret, a login attempt). */
export const PRE_LOGIN_TTL_MS = 60 * 60 * 1000;

type Callback = (error?: unknown) => void;
type GetCallback = (error: unknown, session?: Session | null) => void;

/** Keys a stored session may not set on the Session object it is restored into. */
const RESERVED_KEYS = new Set(['cookie', 'sessionId', 'encryptedSessionId', 'loadedUser', '__proto__', 'constructor', 'prototype']);

/** PostgreSQL: undefined_table, invalid_schema_name (a clinic purged while its cookie lives on). */
function isMissingRelation(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return code === '42P01' || code === '3F000';
}

export interface SessionStoreOptions {
  clinics: Pick<Clinics, 'scopeAt'>;
  /** Signed-in sessions held in process (cache.ts); without it every request reads the table. */
  cache?: SessionCache;
}

export function createSessionStore(options: SessionStoreOptions) {
  const cache = options.cache;

  /** Where the session lives now: its clinic's schema, in the region that holds it today. */
  function locate(id: string): { location: SessionLocation; db: TenantDb } | null {
    const named = parseSessionId(id);
    const scope = named === null ? null : options.clinics.scopeAt(named);
    return scope === null ? null : { location: { regionId: scope.regionId, schemaName: scope.schemaName }, db: scope.db };
  }

  return {
    get(id: string, callback: GetCallback): void {
      const place = locate(id);
      if (place === null) return callback(null, null);
      const cached = cache?.get(id, place.location);
      if (cached) return callback(null, toSession(cached));
      const startedAt = cache?.begin() ?? 0;
      // One round trip when not cached: the session, its user and the clinic's timeouts. The user
      // rides along on the restored session as `loadedUser`, which is never stored (RESERVED_KEYS).
      place.db
        .selectFrom('sessions as s')
        .innerJoin('auth_settings as a', (join) => join.onTrue())
        .leftJoin('users as u', (join) =>
          join.on(sql<boolean>`u.id = case when s.data->>'userId' ~ '^[0-9]{1,19}$' then (s.data->>'userId')::bigint end`),
        )
        .select(['s.data', 's.expires_at', 'u.id', 'u.email', 'u.name', 'u.role', 'u.disabled', 'a.idle_timeout_minutes', 'a.absolute_timeout_minutes'])
        .where('s.id', '=', id)
        .where('s.expires_at', '>', sql<Date>`now()`)
        .executeTakeFirst()
        .then(
          (row) => {
            if (!row || typeof row.data !== 'object' || row.data === null || Array.isArray(row.data)) return callback(null, null);
            const read: CachedSession = {
              json: JSON.stringify(row.data),
              user:
                row.id === null
                  ? null
                  : {
                      id: row.id,
                      email: row.email!,
                      name: row.name!,
                      role: row.role!,
                      disabled: row.disabled!,
                      idle_timeout_minutes: row.idle_timeout_minutes,
                      absolute_timeout_minutes: row.absolute_timeout_minutes,
                    },
              expiresAtMs: row.expires_at.getTime(),
            };
            // Only signed-in sessions are worth holding; a pre-login one changes at every step.
            if (read.user !== null) cache?.fill(id, place.location, read, startedAt);
            callback(null, toSession(read));
          },
          (error: unknown) => (isMissingRelation(error) ? callback(null, null) : callback(error)),
        );
    },

    set(id: string, session: Session, callback: Callback): void {
      const place = locate(id);
      if (place === null) return callback(new Error('refusing to store a session that belongs to no clinic'));
      const data = serialize(session);
      const expiresAt = new Date(typeof session.expiresAt === 'number' ? session.expiresAt : Date.now() + PRE_LOGIN_TTL_MS);
      cache?.forget(id);
      place.db
        .insertInto('sessions')
        .values({ id, data, expires_at: expiresAt })
        .onConflict((oc) => oc.column('id').doUpdateSet({ data, expires_at: expiresAt, updated_at: sql<Date>`now()` }))
        .execute()
        .then(() => {
          // Again after the write: a read that raced it must not be what the cache keeps.
          cache?.forget(id);
          callback();
        }, callback);
    },

    destroy(id: string, callback: Callback): void {
      const place = locate(id);
      if (place === null) return callback();
      cache?.forget(id);
      place.db
        .deleteFrom('sessions')
        .where('id', '=', id)
        .execute()
        .then(
          () => {
            cache?.forget(id);
            callback();
          },
          (error: unknown) => (isMissingRelation(error) ? callback() : callback(error)),
        );
    },
  };
}

export type SessionStore = ReturnType<typeof createSessionStore>;

/** The session's own data, without the cookie (its options come from configuration, not storage). */
function serialize(session: Session): string {
  const data: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(session)) {
    if (!RESERVED_KEYS.has(key) && value !== undefined) data[key] = value;
  }
  return JSON.stringify(data);
}

function toSession(read: CachedSession): Session | null {
  const session = restore(JSON.parse(read.json));
  if (session) session.loadedUser = read.user;
  return session;
}

function restore(data: unknown): Session | null {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return null;
  const session: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    if (!RESERVED_KEYS.has(key)) session[key] = value;
  }
  return session as unknown as Session;
}

/** Deletes this clinic's sessions that are past their expiry (run now and then, e.g. at sign-in). */
export async function sweepExpiredSessions(db: TenantDb): Promise<number> {
  const result = await db.deleteFrom('sessions').where('expires_at', '<=', sql<Date>`now()`).executeTakeFirst();
  return Number(result.numDeletedRows);
}
