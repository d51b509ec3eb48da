// A clinic's users. Every function takes the tenant-scoped handle (or a transaction on it): the
// caller owns the tenant and the transaction.
import { adminsWhoCanSignIn, type SignInMethods } from './admins.ts';
import { sql, type Selectable } from 'kysely';
import { defineError, isUniqueViolation } from '../infra/errors.ts';
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

/** Refusals of the staff changes below. */
export const staffErrors = {
  lastAdmin: defineError('last_admin', 409, (email: string, what: string) =>
    `${email} is the clinic's last enabled administrator and cannot be ${what}. Make someone else an administrator first.`),
  lastAdminWhoCanSignIn: defineError('last_admin_who_can_sign_in', 409, (email: string, what: string) =>
    `${email} cannot be ${what}: no other administrator could sign in with this clinic's sign-in settings (a password while passwords are on, or a linked account at a provider the clinic uses). Have another administrator sign in with the provider once, or turn passwords on, first.`),
  userGone: defineError('user_gone', 404, 'That user no longer exists (someone may have removed them a moment ago).'),
};

export type StaffChange = { kind: 'role'; role: Role } | { kind: 'disable' } | { kind: 'enable' } | { kind: 'remove' };

export interface StaffChangeResult {
  /** The user as it was before the change. */
  before: UserRow;
  /** False when the user already was as asked (nothing written). */
  changed: boolean;
}

const REFUSED_AS: Record<StaffChange['kind'], string> = { role: 'demoted', disable: 'disabled', enable: 'enabled', remove: 'removed' };

/**
 * Changes a user's role, disables, enables or removes them. Run it in a transaction the caller
 * owns (so its audit event commits with it). The clinic must keep one enabled admin: the enabled
 * admins are locked (in id order, so concurrent changes queue rather than deadlock) before the
 * target is read, so two admins demoting each other at once cannot both succeed: the second sees
 * the first's commit and is refused. A user who loses their role, is disabled or removed is signed
 * out everywhere (a privilege change ends the session; the triggers of migration 0005 tell every
 * instance's session cache).
 */
/**
 * One change to a user, in the caller's transaction. Refused (409) when it would take away the
 * clinic's last enabled admin, or, given the clinic's sign-in methods, the last admin who can
 * still sign in with them (admins.ts).
 */
export async function changeStaff(trx: TenantDb, userId: string, change: StaffChange, methods?: SignInMethods): Promise<StaffChangeResult> {
  if (!/^[0-9]{1,19}$/.test(userId)) throw staffErrors.userGone();
  const admins = await trx.selectFrom('users').select('id').where('role', '=', 'admin').where('disabled', '=', false).orderBy('id').forUpdate().execute();
  const before = await trx.selectFrom('users').selectAll().where('id', '=', userId).forUpdate().executeTakeFirst();
  if (!before) throw staffErrors.userGone();
  const isEnabledAdmin = admins.some((a) => a.id === before.id);
  const losesAdmin = isEnabledAdmin && (change.kind === 'disable' || change.kind === 'remove' || (change.kind === 'role' && change.role !== 'admin'));
  if (losesAdmin && admins.length <= 1) throw staffErrors.lastAdmin(before.email, REFUSED_AS[change.kind]);
  if (losesAdmin && methods && (await adminsWhoCanSignIn(trx, methods, { excluding: before.id })) === 0) {
    throw staffErrors.lastAdminWhoCanSignIn(before.email, REFUSED_AS[change.kind]);
  }

  switch (change.kind) {
    case 'role':
      if (before.role === change.role) return { before, changed: false };
      await trx.updateTable('users').set({ role: change.role, updated_at: new Date() }).where('id', '=', userId).execute();
      break;
    case 'disable':
    case 'enable': {
      const disabled = change.kind === 'disable';
      if (before.disabled === disabled) return { before, changed: false };
      await trx.updateTable('users').set({ disabled, updated_at: new Date() }).where('id', '=', userId).execute();
      if (!disabled) return { before, changed: true };
      break;
    }
    case 'remove':
      await trx.deleteFrom('users').where('id', '=', userId).execute();
      break;
  }
  await destroyUserSessions(trx, userId);
  return { before, changed: true };
}

/** How each user signs in: a password, and the SSO issuers they are linked to. */
export async function listStaff(db: TenantDb) {
  const users = await listUsers(db);
  const identities = await db.selectFrom('user_identities').select(['user_id', 'issuer']).orderBy('issuer').execute();
  return users.map((user) => ({
    user,
    hasPassword: user.password_hash !== null,
    issuers: identities.filter((i) => i.user_id === user.id).map((i) => i.issuer),
  }));
}
