// Tenant-schema tables owned by the auth domain (migrations/tenant/0002_users_and_sessions.ts).
import type { ColumnType, Generated } from 'kysely';

export type Role = 'admin' | 'staff';

export interface UsersTable {
  /** bigint identity; pg returns it as a string. */
  id: Generated<string>;
  /** Always lowercased (see normalizeEmail). */
  email: string;
  name: ColumnType<string, string | undefined, string>;
  role: ColumnType<Role, Role | undefined, Role>;
  disabled: ColumnType<boolean, boolean | undefined, boolean>;
  /** argon2id; null for users who only sign in with SSO. */
  password_hash: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export interface UserIdentitiesTable {
  id: Generated<string>;
  user_id: string;
  issuer: string;
  subject: string;
  email: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: ColumnType<Date, never, never>;
  last_used_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export type OidcAdmit = 'invited' | 'domain';

/** Exactly one row per clinic (created by the migration). */
export interface AuthSettingsTable {
  id: ColumnType<boolean, never, never>;
  password_enabled: ColumnType<boolean, never, boolean>;
  idle_timeout_minutes: ColumnType<number, never, number>;
  absolute_timeout_minutes: ColumnType<number, never, number>;
  allowed_email_domains: ColumnType<string[], never, string[]>;
  platform_providers: ColumnType<string[], never, string[]>;
  oidc_issuer: ColumnType<string | null, never, string | null>;
  oidc_client_id: ColumnType<string | null, never, string | null>;
  /** Sealed with the secret box (src/infra/crypto.ts), never the plain secret. */
  oidc_client_secret_sealed: ColumnType<string | null, never, string | null>;
  oidc_admit: ColumnType<OidcAdmit, never, OidcAdmit>;
  updated_at: ColumnType<Date, never, Date>;
}

export interface SessionsTable {
  id: string;
  data: ColumnType<unknown, string, string>;
  expires_at: Date;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date>;
}

export interface AuthTables {
  users: UsersTable;
  user_identities: UserIdentitiesTable;
  auth_settings: AuthSettingsTable;
  sessions: SessionsTable;
}

declare module '../tenancy/tenant-database.ts' {
  interface TenantDatabase extends AuthTables {}
}
