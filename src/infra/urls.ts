// Links that leave a request (redirect URIs, the URL to paste into Cliniko, printed URLs) are built
// from configuration and the stored slug, never echoed from the request's Host. With several base
// domains (BASE_DOMAIN=a.example,b.example) a link may name the base domain a request came in on:
// that is one of the configured ones, as the host parser matched it (request.site.baseDomain), so
// it is still configuration. Without one, the first configured base domain.
import type { Config } from '../config.ts';

type UrlConfig = Pick<Config, 'publicScheme' | 'publicPort' | 'baseDomains'>;

export function originFor(config: UrlConfig, label: string | null, baseDomain = config.baseDomains[0]!): string {
  if (!config.baseDomains.includes(baseDomain)) throw new Error(`${baseDomain} is not a configured base domain`);
  const host = label === null ? baseDomain : `${label}.${baseDomain}`;
  return `${config.publicScheme}://${host}${config.publicPort === null ? '' : `:${config.publicPort}`}`;
}

export function tenantUrl(config: UrlConfig, slug: string, path = '/', baseDomain = config.baseDomains[0]!): string {
  return `${originFor(config, slug, baseDomain)}${path}`;
}
