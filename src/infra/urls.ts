// Links that leave a request (redirect URIs, the URL to paste into Cliniko, printed URLs) are built
// from configuration and the stored slug, never echoed from the request's Host.
import type { Config } from '../config.ts';

export function originFor(config: Pick<Config, 'publicScheme' | 'publicPort' | 'baseDomains'>, label: string | null, baseDomain = config.baseDomains[0]!): string {
  const host = label === null ? baseDomain : `${label}.${baseDomain}`;
  return `${config.publicScheme}://${host}${config.publicPort === null ? '' : `:${config.publicPort}`}`;
}

export function tenantUrl(config: Pick<Config, 'publicScheme' | 'publicPort' | 'baseDomains'>, slug: string, path = '/'): string {
  return `${originFor(config, slug)}${path}`;
}
