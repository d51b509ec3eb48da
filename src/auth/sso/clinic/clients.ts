// openid-client configurations for clinics' own identity providers (issue 3 point 6). Each clinic
// has its own issuer and client, chosen per request, so the configuration is built at request time
// from `discovery()` and cached per tenant for a TTL. The cache key includes the settings
// themselves (issuer, client id, a hash of the secret): when a clinic's settings change, in this
// process or another, the next sign-in rediscovers. `invalidate` drops an entry at once (the
// settings code calls it). Failed discoveries are not cached, so a provider that comes back is
// used again on the next attempt.
import { createHash } from 'node:crypto';
import type * as oidc from 'openid-client';
import { discoverOidcClient, type OidcClientSettings } from '../discovery.ts';

export type ClinicOidcClientSettings = OidcClientSettings;

export interface OidcClientsOptions {
  ttlMs: number;
  timeoutMs: number;
  /** Allow http:// issuers (development and tests only; config.ts refuses it in production). */
  allowHttpIssuers: boolean;
  now?: () => number;
  /** For tests: replaces openid-client's discovery. */
  discover?: (settings: ClinicOidcClientSettings) => Promise<oidc.Configuration>;
}

interface Entry {
  key: string;
  config: Promise<oidc.Configuration>;
  expiresAt: number;
}

function settingsKey(settings: ClinicOidcClientSettings): string {
  const secretHash = createHash('sha256').update(settings.clientSecret, 'utf8').digest('hex');
  return `${settings.issuer}\n${settings.clientId}\n${secretHash}`;
}

export function createOidcClients(options: OidcClientsOptions) {
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();

  const discover = options.discover ?? ((settings: ClinicOidcClientSettings) => discoverOidcClient(settings, options));

  return {
    /** The configuration for this tenant's current settings; rejects when discovery fails. */
    get(tenantId: string, settings: ClinicOidcClientSettings): Promise<oidc.Configuration> {
      const key = settingsKey(settings);
      const hit = entries.get(tenantId);
      if (hit !== undefined && hit.key === key && hit.expiresAt > now()) return hit.config;
      const config = discover(settings);
      const entry: Entry = { key, config, expiresAt: now() + options.ttlMs };
      entries.set(tenantId, entry);
      config.catch(() => {
        if (entries.get(tenantId) === entry) entries.delete(tenantId);
      });
      return config;
    },

    invalidate(tenantId: string): void {
      entries.delete(tenantId);
    },

    /** For tests and metrics. */
    size(): number {
      return entries.size;
    },
  };
}

export type OidcClients = ReturnType<typeof createOidcClients>;
