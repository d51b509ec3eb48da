// The pure host parser: which clinic (if any) a Host header names. Rule (security.md): exactly one
// label of letters, digits and dashes, not starting or ending with a dash, at most 63 characters,
// compared lowercased, port ignored, followed by a configured base domain. Everything else is refused
// before any tenant data is touched.

/** Labels that are never tenants: platform hosts and names a clinic could use to impersonate us. */
export const RESERVED_LABELS: ReadonlySet<string> = new Set([
  'www', 'api', 'auth', 'admin', 'app', 'static', 'status', 'mail', 'smtp', 'imap', 'pop', 'ftp',
  'cdn', 'assets', 'media', 'docs', 'help', 'support', 'blog', 'metrics', 'login', 'logout', 'signup',
  'signin', 'register', 'account', 'accounts', 'billing', 'console', 'dashboard', 'sso', 'oauth',
  'oidc', 'id', 'identity', 'internal', 'localhost', 'ns1', 'ns2', 'mx', 'dev', 'staging', 'test',
  'demo-admin', 'root', 'system', 'security', 'sidechart', 'cliniko', 'webhooks', 'health', 'healthz',
]);

/** Hosts on the base domain that serve the platform itself rather than a clinic. */
const PLATFORM_LABELS: ReadonlySet<string> = new Set(['www']);

export type HostResolution =
  | { kind: 'platform'; baseDomain: string }
  | { kind: 'reserved'; label: string; baseDomain: string }
  | { kind: 'tenant'; slug: string; baseDomain: string }
  | { kind: 'invalid'; reason: string };

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** A label that is syntactically a tenant slug (reserved names are checked separately). */
export function isSlugShaped(label: string): boolean {
  // "xx--" is the IDNA-reserved form (xn--... is punycode): a look-alike of another name.
  return LABEL.test(label) && label.slice(2, 4) !== '--';
}

/** Validates a tenant slug for creation: the host rule plus the reserved list. */
export function checkSlug(slug: string): { ok: true } | { ok: false; reason: string } {
  if (!isSlugShaped(slug)) {
    return {
      ok: false,
      reason: 'a clinic address is 1 to 63 lowercase letters, digits and dashes, not starting or ending with a dash',
    };
  }
  if (RESERVED_LABELS.has(slug)) return { ok: false, reason: `"${slug}" is reserved` };
  return { ok: true };
}

export function isValidHostname(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  if (labels.every((l) => /^\d+$/.test(l))) return false; // IPv4 literal or bare number
  return labels.every((l) => LABEL.test(l));
}

function stripPort(host: string): string | null {
  if (host.startsWith('[')) return null; // IPv6 literal: never a clinic
  const colon = host.indexOf(':');
  if (colon === -1) return host;
  if (host.indexOf(':', colon + 1) !== -1) return null; // unbracketed IPv6 or junk
  const port = host.slice(colon + 1);
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) return null;
  return host.slice(0, colon);
}

/**
 * Resolves a Host (or trusted X-Forwarded-Host) value against the configured base domains.
 * Never throws. Base domains must already be lowercase and valid (config.ts checks them).
 */
export function parseHost(rawHost: unknown, baseDomains: readonly string[]): HostResolution {
  if (typeof rawHost !== 'string' || rawHost.length === 0) return { kind: 'invalid', reason: 'missing host' };
  if (rawHost.length > 300) return { kind: 'invalid', reason: 'host too long' };
  const withoutPort = stripPort(rawHost);
  if (withoutPort === null) return { kind: 'invalid', reason: 'malformed host or port' };
  const host = withoutPort.toLowerCase();
  if (!/^[a-z0-9.-]+$/.test(host)) return { kind: 'invalid', reason: 'host has characters outside letters, digits, dots and dashes' };

  // The longest base domain wins, so `a.staging.example.com` belongs to `staging.example.com`.
  let best: string | null = null;
  for (const base of baseDomains) {
    if ((host === base || host.endsWith(`.${base}`)) && (best === null || base.length > best.length)) best = base;
  }
  if (best === null) return { kind: 'invalid', reason: 'not one of our domains' };
  if (host === best) return { kind: 'platform', baseDomain: best };

  const label = host.slice(0, host.length - best.length - 1);
  if (label.includes('.')) return { kind: 'invalid', reason: 'more than one level below the base domain' };
  if (!isSlugShaped(label)) return { kind: 'invalid', reason: 'not a valid clinic address' };
  if (PLATFORM_LABELS.has(label)) return { kind: 'platform', baseDomain: best };
  if (RESERVED_LABELS.has(label)) return { kind: 'reserved', label, baseDomain: best };
  return { kind: 'tenant', slug: label, baseDomain: best };
}

/**
 * The host a request names, per RFC 9112 §3.2.2: when the request target is in absolute form
 * (`GET http://a.example/x`), its authority wins over the Host header (a proxy routing by the URI
 * and the app resolving by Host must not disagree). Null when the target is in origin form, and
 * '' (an invalid host) when it is an absolute URI that cannot be read.
 */
export function absoluteFormHost(target: string | undefined): string | null {
  if (target === undefined || !/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) return null;
  try {
    const url = new URL(target);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.host : '';
  } catch {
    return '';
  }
}

/**
 * The origin form (path and query) of an absolute-form target, exactly as sent: `/` when the
 * target names no path. Only for targets absoluteFormHost() read a host from.
 */
export function originForm(target: string): string {
  const afterScheme = target.slice(target.indexOf('://') + 3);
  const end = afterScheme.search(/[/?#]/);
  if (end < 0) return '/';
  const rest = afterScheme.slice(end);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/** A request with more than one Host header must be refused (RFC 9112 §3.2). */
export function hostHeaderCount(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.length === 4 && rawHeaders[i]!.toLowerCase() === 'host') count++;
  return count;
}
