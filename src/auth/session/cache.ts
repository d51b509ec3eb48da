// Signed-in sessions held in process, so that a click costs no session query (store.ts reads
// through this cache). Bounded (lru-cache: at most `max` sessions, each for at most `ttlMs`) and
// never trusted blindly:
// - every change that can end or alter a session (sign-out, destruction, a user disabled, removed,
//   re-roled or given a new password, the clinic's session settings) is announced by triggers in
//   the clinic's schema (migrations/tenant/0005) on `sidechart_auth_changed`; each instance LISTENs
//   on each region's database and drops what a notification names, as soon as it arrives;
// - a region's entries are used only while that region's LISTEN connection is up: when it drops
//   they are cleared and the region's sessions are read from the database until it is back (and
//   then the cache starts empty, since notifications may have been missed);
// - a read that started before a notification arrived does not fill the cache (`generation`), so a
//   query racing a sign-out cannot put the signed-out session back;
// - a clinic suspended or deleted never reaches the cache at all: tenant resolution refuses it
//   first (tenancy/directory.ts has its own NOTIFY), and store.ts places each ID before looking.
// So staleness is bounded by notification delivery (milliseconds); only if notifications were lost
// while the connection still looked healthy would an entry live on, and then for `ttlMs` at most.
// Idle and absolute timeouts are judged on every request from the cached times (plugin.ts), so
// they hold to the millisecond whatever the cache does. Keys are a hash of the session ID, the
// same hash the notifications carry: the IDs themselves never travel.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { LRUCache } from 'lru-cache';
import { listenOn, type Listener } from '../../infra/listener.ts';
import type { SessionLocation } from './id.ts';

export const AUTH_CHANGED_CHANNEL = 'sidechart_auth_changed';

/** What the store read for a session: its stored data, its user and the clinic's timeouts. */
export interface CachedSession {
  /** The stored session data as JSON (parsed afresh for each request: sessions are mutable). */
  json: string;
  user: {
    id: string;
    email: string;
    name: string;
    role: 'admin' | 'staff';
    disabled: boolean;
    idle_timeout_minutes: number;
    absolute_timeout_minutes: number;
  } | null;
  /** When the stored row expires (epoch ms). */
  expiresAtMs: number;
}

interface Entry extends CachedSession {
  location: SessionLocation;
}

export interface SessionCacheOptions {
  max: number;
  /** 0 turns the cache off. */
  ttlMs: number;
  now?: () => number;
}

/** The hash a session is known by in the cache and in notifications (128 bits of SHA-256). */
export function sessionKey(id: string): string {
  return createHash('sha256').update(id, 'utf8').digest('hex').slice(0, 32);
}

export function createSessionCache(options: SessionCacheOptions) {
  const now = options.now ?? Date.now;
  const enabled = options.ttlMs > 0 && options.max > 0;
  const cache = new LRUCache<string, Entry>({
    max: Math.max(1, options.max),
    ttl: Math.max(1, options.ttlMs),
    ...(options.now ? { perf: { now: options.now }, ttlResolution: 0 } : {}),
  });
  /** Regions whose notifications are being received: only their entries are used. */
  const trusted = new Set<string>();
  let generation = 0;
  // 'dropped' (reason) after each invalidation: tests wait on it instead of sleeping.
  const events = new EventEmitter();

  function drop(reason: string, match: (entry: Entry) => boolean): void {
    generation++;
    for (const [key, entry] of cache.entries()) if (match(entry)) cache.delete(key);
    events.emit('dropped', reason);
  }

  return {
    /** A generation token: pass it to fill() so that reads racing a change are not cached. */
    begin(): number {
      return generation;
    },

    /** The cached session, or undefined (miss, expired row, or its region not being listened to). */
    get(id: string, location: SessionLocation): CachedSession | undefined {
      if (!enabled || !trusted.has(location.regionId)) return undefined;
      const key = sessionKey(id);
      const entry = cache.get(key);
      if (entry === undefined) return undefined;
      if (entry.expiresAtMs <= now() || entry.location.schemaName !== location.schemaName) {
        cache.delete(key);
        return undefined;
      }
      return entry;
    },

    /** Holds what the store just read, unless something changed since `startedAt` = begin(). */
    fill(id: string, location: SessionLocation, session: CachedSession, startedAt: number): void {
      if (!enabled || startedAt !== generation || !trusted.has(location.regionId)) return;
      cache.set(sessionKey(id), { ...session, location });
    },

    /** This instance wrote or destroyed the session: forget it now (the trigger tells the others). */
    forget(id: string): void {
      generation++;
      cache.delete(sessionKey(id));
    },

    /** Applies one `sidechart_auth_changed` payload received from a region's database. */
    apply(regionId: string, payload: string): void {
      const [schemaName, kind, list] = payload.split(' ');
      if (!schemaName) return;
      const inClinic = (entry: Entry) => entry.location.regionId === regionId && entry.location.schemaName === schemaName;
      if (kind === 's' && list) {
        const keys = new Set(list.split(','));
        generation++;
        for (const key of keys) {
          const entry = cache.peek(key);
          if (entry && inClinic(entry)) cache.delete(key);
        }
        events.emit('dropped', payload);
      } else if (kind === 'u' && list) {
        const users = new Set(list.split(','));
        drop(payload, (entry) => inClinic(entry) && entry.user !== null && users.has(entry.user.id));
      } else {
        // '*' or anything not understood: the whole clinic.
        drop(payload, inClinic);
      }
    },

    /** A region's LISTEN connection is up: start afresh (notifications may have been missed). */
    connected(regionId: string): void {
      drop(`${regionId} connected`, (entry) => entry.location.regionId === regionId);
      trusted.add(regionId);
    },

    /** A region's LISTEN connection is gone: read that region from the database until it is back. */
    lost(regionId: string): void {
      trusted.delete(regionId);
      drop(`${regionId} lost`, (entry) => entry.location.regionId === regionId);
    },

    isTrusted(regionId: string): boolean {
      return trusted.has(regionId);
    },

    events,

    get size(): number {
      return cache.size;
    },

    get max(): number {
      return cache.max;
    },
  };
}

export type SessionCache = ReturnType<typeof createSessionCache>;

/** LISTENs on one region's database for the cache (connection string: not through PgBouncer). */
export function listenForAuthChanges(options: {
  regionId: string;
  connectionString: string;
  cache: SessionCache;
  onError: (error: Error) => void;
  retryMs?: number;
}): Listener {
  return listenOn({
    connectionString: options.connectionString,
    channel: AUTH_CHANGED_CHANNEL,
    applicationName: 'sidechart-session-listener',
    onNotification: (payload) => options.cache.apply(options.regionId, payload),
    onConnected: () => options.cache.connected(options.regionId),
    onLost: () => options.cache.lost(options.regionId),
    onError: options.onError,
    ...(options.retryMs !== undefined ? { retryMs: options.retryMs } : {}),
  });
}
