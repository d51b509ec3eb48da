// A small browser-like HTTP client for tests that drive the app over real HTTP.
//
// - Never follows redirects: every hop is returned so tests can assert it.
// - Keeps cookies per host the way a browser does (RFC 6265bis storage and retrieval
//   model): host-only vs Domain cookies, Path matching, Secure only over https, Expires /
//   Max-Age, the `__Secure-` / `__Host-` prefixes, SameSite on requests marked cross-site.
//   Set-Cookie strings are parsed by undici's `parseCookie` (a direct dependency);
//   `tough-cookie` is not installed, so the storage model below is a careful minimal jar.
//   Not modelled: the public suffix list (single-label Domain values such as
//   `Domain=localhost` are treated as public suffixes and rejected), cookie size and
//   count limits, and Chromium's treatment of http://localhost as a secure context
//   (this jar stores Secure cookies only from https URLs, unless `treatAsHttps` is set).
// - Resolves `localhost` and `*.localhost` to 127.0.0.1 so `http://acme.localhost:<port>/`
//   reaches a server listening on 127.0.0.1, with the Host header a browser would send.
import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { Agent, parseCookie, request } from 'undici';

export type HeaderMap = Record<string, string>;

export interface RequestOptions {
  /** Extra request headers. An explicit `cookie` header replaces the jar's cookies for this request. */
  headers?: HeaderMap;
  /**
   * Treat the request as coming from another site (e.g. the button in Cliniko):
   * SameSite=Strict cookies are not sent, and SameSite=Lax (also the default when the
   * attribute is missing) only on a top-level GET. Default: same-site.
   */
  crossSite?: boolean;
}

export interface HttpResponse {
  /** The request URL. */
  url: string;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The raw Location header, exactly as sent. */
  location: string | undefined;
  /** The Location header resolved against the request URL. */
  redirectUrl: string | undefined;
  /** The raw Set-Cookie header lines of this response. */
  setCookie: string[];
  body: string;
  /** First value of a header (case-insensitive name). */
  header(name: string): string | undefined;
  /** `JSON.parse` of the body. */
  json(): unknown;
}

export interface StoredCookie {
  name: string;
  value: string;
  /** The host (host-only cookies) or the Domain attribute value (lower case, no leading dot). */
  domain: string;
  hostOnly: boolean;
  path: string;
  secure: boolean;
  httpOnly: boolean;
  sameSite: 'Strict' | 'Lax' | 'None' | undefined;
  /** Epoch milliseconds, or undefined for a session cookie. */
  expiresAt: number | undefined;
  /** Epoch milliseconds. */
  createdAt: number;
}

/** Stored cookie plus its creation order, which sorts equally long paths (RFC 6265 5.4). */
interface JarEntry extends StoredCookie {
  order: number;
}

const JSON_BODY: unique symbol = Symbol('json body');
export interface JsonBody {
  readonly [JSON_BODY]: true;
  readonly value: unknown;
}
/** Wrap a value so `post()` sends it as `application/json`. */
export function json(value: unknown): JsonBody {
  return { [JSON_BODY]: true, value };
}
/** A form (sent as application/x-www-form-urlencoded), a raw string (form content type unless a header says otherwise), or `json(value)`. */
export type PostBody = URLSearchParams | Record<string, string | readonly string[]> | string | JsonBody;

export interface HttpClient {
  get(url: string | URL, options?: RequestOptions): Promise<HttpResponse>;
  post(url: string | URL, body: PostBody, options?: RequestOptions): Promise<HttpResponse>;
  request(method: string, url: string | URL, options?: RequestOptions & { body?: PostBody }): Promise<HttpResponse>;
  /** Every live cookie whose domain matches `hostname` (any path, Secure or not), as copies. */
  cookies(hostname: string): StoredCookie[];
  /** The Cookie header the jar would send to this URL (same-site request), or '' when none. */
  cookieHeader(url: string | URL): string;
  /** Store a Set-Cookie line as if the server at `url` had sent it. Returns false when the jar rejects it. */
  setCookie(url: string | URL, setCookieLine: string): boolean;
  clearCookies(): void;
  /** Close the connection pool (keep-alive sockets). */
  close(): Promise<void>;
}

export interface HttpClientOptions {
  /** Resolve `localhost` and `*.localhost` to 127.0.0.1 (default true). */
  resolveLocalhost?: boolean;
  /**
   * For cookie purposes, treat every URL as https (a browser in front of a TLS-terminating
   * proxy, which tests simulate with `X-Forwarded-Proto: https`): Secure and `__Host-`
   * cookies are then stored from and sent over plain-HTTP test URLs. Default false.
   */
  treatAsHttps?: boolean;
  /** Headers added to every request (per-request headers win). */
  defaultHeaders?: HeaderMap;
}

function isLocalhostName(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  return h === 'localhost' || h.endsWith('.localhost');
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

function localhostLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  if (isLocalhostName(hostname)) {
    if (options.all === true) callback(null, [{ address: '127.0.0.1', family: 4 }]);
    else callback(null, '127.0.0.1', 4);
    return;
  }
  dnsLookup(hostname, options, (err, address, family) => callback(err, address, family));
}

function isIpAddress(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.startsWith('[') || host.includes(':');
}

/** RFC 6265 5.1.3 domain-match. */
function domainMatches(host: string, domain: string): boolean {
  if (host === domain) return true;
  return !isIpAddress(host) && host.endsWith(`.${domain}`);
}

/** RFC 6265 5.1.4 default-path. */
function defaultPath(pathname: string): string {
  if (!pathname.startsWith('/')) return '/';
  const last = pathname.lastIndexOf('/');
  return last <= 0 ? '/' : pathname.slice(0, last);
}

/** RFC 6265 5.1.4 path-match. */
function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

/** The last Path attribute's raw value (undici maps a relative Path to '/', the RFC to default-path). */
function rawPathAttribute(line: string): string | undefined {
  let value: string | undefined;
  for (const part of line.split(';').slice(1)) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name === 'path') value = eq === -1 ? '' : part.slice(eq + 1).trim();
  }
  return value;
}

function hasDomainAttribute(line: string): boolean {
  return line.split(';').slice(1).some((part) => part.split('=')[0]?.trim().toLowerCase() === 'domain');
}

class CookieJar {
  #cookies: JarEntry[] = [];
  #order = 0;
  readonly #treatAsHttps: boolean;

  constructor(treatAsHttps: boolean) {
    this.#treatAsHttps = treatAsHttps;
  }

  #isSecure(url: URL): boolean {
    return this.#treatAsHttps || url.protocol === 'https:';
  }

  #purgeExpired(now: number): void {
    this.#cookies = this.#cookies.filter((c) => c.expiresAt === undefined || c.expiresAt > now);
  }

  store(url: URL, line: string): boolean {
    const parsed = parseCookie(line);
    if (parsed === null) return false;
    if (parsed.name === '' && parsed.value === '') return false;
    const host = url.hostname.toLowerCase();
    const now = Date.now();
    const secureRequest = this.#isSecure(url);

    // Domain: absent or empty -> host-only.
    let hostOnly = true;
    let domain = host;
    if (parsed.domain !== undefined && parsed.domain !== '') {
      const attr = parsed.domain.replace(/\.$/, '');
      if (!attr.includes('.')) {
        // Treated as a public suffix: accepted only when it is the request host itself.
        if (attr !== host) return false;
      } else {
        if (!domainMatches(host, attr)) return false;
        hostOnly = false;
        domain = attr;
      }
    }

    const rawPath = rawPathAttribute(line);
    const path = rawPath !== undefined && rawPath.startsWith('/') ? rawPath : defaultPath(url.pathname);

    const secure = parsed.secure === true;
    if (secure && !secureRequest) return false;

    const lowerName = parsed.name.toLowerCase();
    if (lowerName.startsWith('__secure-') && !secure) return false;
    if (lowerName.startsWith('__host-')) {
      if (!secure || hasDomainAttribute(line) || path !== '/') return false;
    }

    // Max-Age wins over Expires.
    let expiresAt: number | undefined;
    if (parsed.maxAge !== undefined) {
      expiresAt = parsed.maxAge <= 0 ? 0 : now + parsed.maxAge * 1000;
    } else if (parsed.expires !== undefined) {
      expiresAt = parsed.expires instanceof Date ? parsed.expires.getTime() : parsed.expires;
    }

    const existingIndex = this.#cookies.findIndex(
      (c) => c.name === parsed.name && c.domain === domain && c.path === path,
    );
    const existing = existingIndex === -1 ? undefined : this.#cookies[existingIndex];
    // A non-secure origin must not overwrite a Secure cookie (RFC 6265bis 5.7 step 16).
    if (existing !== undefined && existing.secure && !secureRequest) return false;
    if (existingIndex !== -1) this.#cookies.splice(existingIndex, 1);

    if (expiresAt !== undefined && expiresAt <= now) return true; // deletion
    this.#cookies.push({
      name: parsed.name,
      value: parsed.value,
      domain,
      hostOnly,
      path,
      secure,
      httpOnly: parsed.httpOnly === true,
      sameSite: parsed.sameSite,
      expiresAt,
      createdAt: existing?.createdAt ?? now,
      order: existing?.order ?? this.#order++,
    });
    return true;
  }

  matching(url: URL, method: string, crossSite: boolean): StoredCookie[] {
    const now = Date.now();
    this.#purgeExpired(now);
    const host = url.hostname.toLowerCase();
    const secure = this.#isSecure(url);
    const topLevelSafe = method === 'GET' || method === 'HEAD';
    return this.#cookies
      .filter((c) => (c.hostOnly ? c.domain === host : domainMatches(host, c.domain)))
      .filter((c) => pathMatches(url.pathname || '/', c.path))
      .filter((c) => !c.secure || secure)
      .filter((c) => {
        if (!crossSite) return true;
        const sameSite = c.sameSite ?? 'Lax';
        if (sameSite === 'None') return true;
        if (sameSite === 'Lax') return topLevelSafe;
        return false;
      })
      .sort((a, b) => b.path.length - a.path.length || a.order - b.order);
  }

  forHost(hostname: string): StoredCookie[] {
    this.#purgeExpired(Date.now());
    const host = hostname.toLowerCase();
    return this.#cookies
      .filter((c) => (c.hostOnly ? c.domain === host : domainMatches(host, c.domain)))
      .map(({ order: _order, ...c }) => c);
  }

  clear(): void {
    this.#cookies = [];
  }
}

function serialize(cookies: StoredCookie[]): string {
  return cookies.map((c) => (c.name === '' ? c.value : `${c.name}=${c.value}`)).join('; ');
}

function isJsonBody(body: PostBody): body is JsonBody {
  return typeof body === 'object' && !(body instanceof URLSearchParams) && JSON_BODY in body;
}

function encodeBody(body: PostBody): { contentType: string; payload: string } {
  if (typeof body === 'string') return { contentType: 'application/x-www-form-urlencoded', payload: body };
  if (body instanceof URLSearchParams) return { contentType: 'application/x-www-form-urlencoded', payload: body.toString() };
  if (isJsonBody(body)) return { contentType: 'application/json', payload: JSON.stringify(body.value) };
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(body)) {
    if (typeof value === 'string') form.append(key, value);
    else for (const v of value) form.append(key, v);
  }
  return { contentType: 'application/x-www-form-urlencoded', payload: form.toString() };
}

function lowerCaseKeys(headers: HeaderMap | undefined): HeaderMap {
  const out: HeaderMap = {};
  for (const [k, v] of Object.entries(headers ?? {})) out[k.toLowerCase()] = v;
  return out;
}

export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const resolveLocalhost = options.resolveLocalhost ?? true;
  const jar = new CookieJar(options.treatAsHttps === true);
  const agent = new Agent({
    allowH2: false,
    ...(resolveLocalhost ? { connect: { lookup: localhostLookup } } : {}),
  });
  const defaultHeaders = lowerCaseKeys(options.defaultHeaders);

  async function send(
    method: string,
    input: string | URL,
    opts: RequestOptions & { body?: PostBody } = {},
  ): Promise<HttpResponse> {
    const url = new URL(input);
    const headers: HeaderMap = { ...defaultHeaders, ...lowerCaseKeys(opts.headers) };
    if (headers.cookie === undefined) {
      const cookie = serialize(jar.matching(url, method, opts.crossSite === true));
      if (cookie !== '') headers.cookie = cookie;
    }
    let payload: string | undefined;
    if (opts.body !== undefined) {
      const encoded = encodeBody(opts.body);
      payload = encoded.payload;
      headers['content-type'] ??= encoded.contentType;
    }
    const res = await request(url, {
      method,
      headers,
      dispatcher: agent,
      ...(payload !== undefined ? { body: payload } : {}),
    });
    const body = await res.body.text();
    const raw = res.headers['set-cookie'];
    const setCookie = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    for (const line of setCookie) jar.store(url, line);
    const headerValue = (name: string): string | undefined => {
      const v = res.headers[name.toLowerCase()];
      return Array.isArray(v) ? v[0] : v;
    };
    const location = headerValue('location');
    return {
      url: url.href,
      status: res.statusCode,
      headers: res.headers,
      location,
      redirectUrl: location === undefined ? undefined : new URL(location, url).href,
      setCookie,
      body,
      header: headerValue,
      json: () => JSON.parse(body) as unknown,
    };
  }

  return {
    get: (url, opts) => send('GET', url, opts),
    post: (url, body, opts) => send('POST', url, { ...opts, body }),
    request: (method, url, opts) => send(method.toUpperCase(), url, opts),
    cookies: (hostname) => jar.forHost(hostname),
    cookieHeader: (url) => serialize(jar.matching(new URL(url), 'GET', false)),
    setCookie: (url, line) => jar.store(new URL(url), line),
    clearCookies: () => jar.clear(),
    close: () => agent.close(),
  };
}
