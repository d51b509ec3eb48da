// How a clinic lets its staff sign in (the one auth_settings row of its schema).
import type { Selectable } from 'kysely';
import type { TenantDb } from '../tenancy/tenant-database.ts';
import type { AuthSettingsTable } from './tables.ts';

export type AuthSettingsRow = Selectable<AuthSettingsTable>;

export interface AuthSettings {
  passwordEnabled: boolean;
  idleTimeoutMinutes: number;
  absoluteTimeoutMinutes: number;
  allowedEmailDomains: string[];
  platformProviders: string[];
  oidcIssuer: string | null;
  oidcClientId: string | null;
  oidcClientSecretSealed: string | null;
  oidcAdmit: 'invited' | 'domain';
}

export function toAuthSettings(row: AuthSettingsRow): AuthSettings {
  return {
    passwordEnabled: row.password_enabled,
    idleTimeoutMinutes: row.idle_timeout_minutes,
    absoluteTimeoutMinutes: row.absolute_timeout_minutes,
    allowedEmailDomains: row.allowed_email_domains,
    platformProviders: row.platform_providers,
    oidcIssuer: row.oidc_issuer,
    oidcClientId: row.oidc_client_id,
    oidcClientSecretSealed: row.oidc_client_secret_sealed,
    oidcAdmit: row.oidc_admit,
  };
}

export async function getAuthSettings(db: TenantDb): Promise<AuthSettings> {
  // The migration creates the row; a schema without it is broken, and saying so beats a default.
  const row = await db.selectFrom('auth_settings').selectAll().executeTakeFirstOrThrow(
    () => new Error('auth_settings has no row for this clinic'),
  );
  return toAuthSettings(row);
}

export interface AuthSettingsChange {
  passwordEnabled?: boolean;
  idleTimeoutMinutes?: number;
  absoluteTimeoutMinutes?: number;
  allowedEmailDomains?: string[];
  platformProviders?: string[];
  oidcIssuer?: string | null;
  oidcClientId?: string | null;
  oidcClientSecretSealed?: string | null;
  oidcAdmit?: 'invited' | 'domain';
}

export async function updateAuthSettings(db: TenantDb, change: AuthSettingsChange): Promise<AuthSettings> {
  const row = await db
    .updateTable('auth_settings')
    .set({
      ...(change.passwordEnabled !== undefined ? { password_enabled: change.passwordEnabled } : {}),
      ...(change.idleTimeoutMinutes !== undefined ? { idle_timeout_minutes: change.idleTimeoutMinutes } : {}),
      ...(change.absoluteTimeoutMinutes !== undefined ? { absolute_timeout_minutes: change.absoluteTimeoutMinutes } : {}),
      ...(change.allowedEmailDomains !== undefined ? { allowed_email_domains: change.allowedEmailDomains } : {}),
      ...(change.platformProviders !== undefined ? { platform_providers: change.platformProviders } : {}),
      ...(change.oidcIssuer !== undefined ? { oidc_issuer: change.oidcIssuer } : {}),
      ...(change.oidcClientId !== undefined ? { oidc_client_id: change.oidcClientId } : {}),
      ...(change.oidcClientSecretSealed !== undefined ? { oidc_client_secret_sealed: change.oidcClientSecretSealed } : {}),
      ...(change.oidcAdmit !== undefined ? { oidc_admit: change.oidcAdmit } : {}),
      updated_at: new Date(),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toAuthSettings(row);
}
