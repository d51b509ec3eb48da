// A clinic's single sign-on settings (part of the auth_settings row, settings.ts): its own OpenID
// provider (issuer, client id, client secret sealed with the secret box), who is admitted, the
// allowed e-mail domains, and which platform providers its staff may use. The CLI (`sidechart sso
// ...`) and the admin pages change them through `updateSsoSettings`, so validation and sealing
// live in one place.
import type { Config } from '../../config.ts';
import { checkIssuerUrl } from '../../config.ts';
import type { SecretBox } from '../../infra/crypto.ts';
import { authErrors } from '../errors.ts';
import { isValidHostname } from '../../tenancy/host.ts';
import type { TenantDb } from '../../tenancy/tenant-database.ts';
import { updateAuthSettings, type AuthSettings, type AuthSettingsChange } from '../settings.ts';
import type { OidcAdmit } from '../tables.ts';

export interface ClinicOidcSettings {
  issuer: string;
  clientId: string;
  clientSecretSealed: string;
}

export interface SsoSettingsChange {
  /** Set the clinic's own provider; null removes it. The secret is given in clear and sealed here. */
  clinicOidc?: { issuer: string; clientId: string; clientSecret: string } | null;
  admit?: OidcAdmit;
  allowedEmailDomains?: readonly string[];
  platformProviders?: readonly string[];
}

/** Where the sealed client secret belongs: it opens only in this clinic's row. */
export function clientSecretAad(schemaName: string): string {
  return `tenant:${schemaName}:oidc_client_secret`;
}

/** The clinic's own provider, or null when it has none (or only part of one is set). */
export function clinicOidcOf(settings: AuthSettings): ClinicOidcSettings | null {
  const { oidcIssuer, oidcClientId, oidcClientSecretSealed } = settings;
  if (oidcIssuer === null || oidcClientId === null || oidcClientSecretSealed === null) return null;
  return { issuer: oidcIssuer, clientId: oidcClientId, clientSecretSealed: oidcClientSecretSealed };
}

const invalid = authErrors.invalidSsoSettings;

/** Validates a change without touching the database (the CLI and admin forms show these messages). */
export function checkSsoSettingsChange(change: SsoSettingsChange, config: Pick<Config, 'platformProviders' | 'oidc'>): SsoSettingsChange {
  const out: SsoSettingsChange = {};
  if (change.clinicOidc !== undefined) {
    if (change.clinicOidc === null) out.clinicOidc = null;
    else {
      const issuer = change.clinicOidc.issuer.trim();
      const problem = checkIssuerUrl(issuer, config.oidc.allowHttpIssuers);
      if (problem !== null) throw invalid(`The issuer ${problem}.`);
      const clientId = change.clinicOidc.clientId.trim();
      if (clientId === '' || clientId.length > 255 || /\s/.test(clientId)) throw invalid('The client id must be 1 to 255 characters without spaces.');
      const clientSecret = change.clinicOidc.clientSecret.trim();
      if (clientSecret === '' || clientSecret.length > 1024) throw invalid('The client secret must be 1 to 1024 characters.');
      out.clinicOidc = { issuer, clientId, clientSecret };
    }
  }
  if (change.admit !== undefined) {
    if (change.admit !== 'invited' && change.admit !== 'domain') throw invalid('Admit must be "invited" or "domain".');
    out.admit = change.admit;
  }
  if (change.allowedEmailDomains !== undefined) {
    const domains = [...new Set(change.allowedEmailDomains.map((d) => d.trim().toLowerCase().replace(/^@/, '')).filter((d) => d !== ''))];
    for (const domain of domains) {
      if (!isValidHostname(domain) || !domain.includes('.')) throw invalid(`"${domain}" is not an e-mail domain.`);
    }
    out.allowedEmailDomains = domains;
  }
  if (change.platformProviders !== undefined) {
    const ids = [...new Set(change.platformProviders.map((p) => p.trim()).filter((p) => p !== ''))];
    const known = config.platformProviders.map((p) => p.id);
    for (const id of ids) {
      if (!known.includes(id)) {
        throw invalid(`"${id}" is not a platform provider of this Sidechart (${known.length === 0 ? 'none are configured' : `known: ${known.join(', ')}`}).`);
      }
    }
    out.platformProviders = ids;
  }
  return out;
}

export interface SsoSettingsDeps {
  config: Pick<Config, 'platformProviders' | 'oidc'>;
  box: SecretBox;
  schemaName: string;
  /** Called after a change so cached provider configurations are dropped (oidc-client.ts). */
  onChange?: () => void;
}

export async function updateSsoSettings(db: TenantDb, deps: SsoSettingsDeps, change: SsoSettingsChange): Promise<AuthSettings> {
  const checked = checkSsoSettingsChange(change, deps.config);
  const update: AuthSettingsChange = {};
  if (checked.clinicOidc === null) {
    Object.assign(update, { oidcIssuer: null, oidcClientId: null, oidcClientSecretSealed: null });
  } else if (checked.clinicOidc !== undefined) {
    update.oidcIssuer = checked.clinicOidc.issuer;
    update.oidcClientId = checked.clinicOidc.clientId;
    update.oidcClientSecretSealed = deps.box.seal(checked.clinicOidc.clientSecret, clientSecretAad(deps.schemaName));
  }
  if (checked.admit !== undefined) update.oidcAdmit = checked.admit;
  if (checked.allowedEmailDomains !== undefined) update.allowedEmailDomains = [...checked.allowedEmailDomains];
  if (checked.platformProviders !== undefined) update.platformProviders = [...checked.platformProviders];
  const settings = await updateAuthSettings(db, update);
  deps.onChange?.();
  return settings;
}

/**
 * Re-seals the clinic's own OIDC client secret under the primary encryption key (key rotation,
 * infra/RUNBOOK.md), as `rekeyCliniko` does for the Cliniko key. Compare-and-set on the sealed
 * value, so a save meanwhile wins.
 */
export async function rekeyClinicOidcSecret(clinic: { db: TenantDb; schemaName: string }, box: SecretBox): Promise<'resealed' | 'current' | 'no_secret'> {
  const row = await clinic.db.selectFrom('auth_settings').select(['oidc_client_secret_sealed']).executeTakeFirst();
  const sealed = row?.oidc_client_secret_sealed ?? null;
  if (sealed === null) return 'no_secret';
  if (!box.needsRotation(sealed)) return 'current';
  const secret = box.open(sealed, clientSecretAad(clinic.schemaName));
  const result = await clinic.db
    .updateTable('auth_settings')
    .set({ oidc_client_secret_sealed: box.seal(secret, clientSecretAad(clinic.schemaName)), updated_at: new Date() })
    .where('oidc_client_secret_sealed', '=', sealed)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n ? 'resealed' : 'current';
}
