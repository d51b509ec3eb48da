// A clinic's users. Every function takes the tenant-scoped handle (or a transaction on it): the
// caller owns the tenant and the transaction.
import { sql, type Selectable } from 'kysely';
import { isUniqueViolation } from '../infra/errors.ts';
import { authErrors } from './errors.ts';
import type { TenantDb } from '../tenancy/tenant-database.ts';
import type { Role, UsersTable } from './tables.ts';

export type UserRow = Selectable<UsersTable>;

/** What the rest of the app sees of a signed-in user (request.user). */
export interface SessionUser {
  id: string;
  email: string;
  name: string;
  role: Role;
}

export const ROLES: readonly Role[] = ['admin', 'staff'];
export const EMAIL_MAX_LENGTH = 320;

/**
 * Trims and lowercases an e-mail address; null when it does not look like one. Deliberately loose
 * (one `@`, something either side, no spaces): the address is a login name here, not a mailbox we
 * deliver to.
 */
export function normalizeEmail(input: unknown): string | null {
  if (typeof input !== 'string') return null;
  const email = input.trim().toLowerCase();
  if (email.length < 3 || email.length > EMAIL_MAX_LENGTH) return null;
  // No control characters either: PostgreSQL refuses a NUL in text, and none belongs in an address.
  return /^[^\s@\p{Cc}]+@[^\s@\p{Cc}]+$/u.test(email) ? email : null;
}

export function toSessionUser(row: Pick<UserRow, 'id' | 'email' | 'name' | 'role'>): SessionUser {
  return { id: row.id, email: row.email, name: row.name || row.email, role: row.role };
}

export interface NewUser {
  email: string;
  name?: string;
  role?: Role;
  passwordHash?: string | null;
}

export async function createUser(db: TenantDb, input: NewUser): Promise<UserRow> {
  const email = normalizeEmail(input.email);
  if (email === null) throw authErrors.invalidEmail(input.email);
  const name = (input.name ?? '').trim();
  if (name.length > 200) throw authErrors.invalidName();
  try {
    return await db
      .insertInto('users')
      .values({ email, name, role: input.role ?? 'staff', password_hash: input.passwordHash ?? null })
      .returningAll()
      .executeTakeFirstOrThrow();
  } catch (error) {
    if (isUniqueViolation(error)) throw authErrors.userExists(email);
    throw error;
  }
}

export async function findUserByEmail(db: TenantDb, email: string): Promise<UserRow | undefined> {
  const normalized = normalizeEmail(email);
  if (normalized === null) return undefined;
  return db.selectFrom('users').selectAll().where('email', '=', normalized).executeTakeFirst();
}

export async function listUsers(db: TenantDb): Promise<UserRow[]> {
  return db.selectFrom('users').selectAll().orderBy('email').execute();
}

/** The user by e-mail, or a 404 naming the address. */
export async function getUserByEmail(db: TenantDb, email: string): Promise<UserRow> {
  const user = await findUserByEmail(db, email);
  if (!user) throw authErrors.userNotFound(normalizeEmail(email) ?? email);
  return user;
}

export async function setUserDisabled(db: TenantDb, userId: string, disabled: boolean): Promise<void> {
  await db.updateTable('users').set({ disabled, updated_at: new Date() }).where('id', '=', userId).execute();
}

export async function setPasswordHash(db: TenantDb, userId: string, passwordHash: string | null): Promise<void> {
  await db.updateTable('users').set({ password_hash: passwordHash, updated_at: new Date() }).where('id', '=', userId).execute();
}

/** The user and the clinic's session timeouts, in one query (every signed-in request runs it). */
export async function findUserForSession(db: TenantDb, id: string) {
  if (!/^[0-9]{1,19}$/.test(id)) return undefined;
  return db
    .selectFrom('users as u')
    .innerJoin('auth_settings as s', (join) => join.onTrue())
    .select(['u.id', 'u.email', 'u.name', 'u.role', 'u.disabled', 's.idle_timeout_minutes', 's.absolute_timeout_minutes'])
    .where('u.id', '=', id)
    .executeTakeFirst();
}

/** Signs a user out everywhere (after a password change, when disabled). Returns how many sessions. */
export async function destroyUserSessions(db: TenantDb, userId: string): Promise<number> {
  const result = await db.deleteFrom('sessions').where(sql<string>`data->>'userId'`, '=', userId).executeTakeFirst();
  return Number(result.numDeletedRows);
}
