// A small browser-like HTTP client for tests that drive the app over real HTTP.
//
// - Never follows redirects: every hop is returned so tests can assert it.
// - Keeps cookies the way a browser does with tough-cookie's CookieJar (host-only vs Domain
//   cookies, Path matching, Expires / Max-Age, the `__Secure-` / `__Host-` prefixes, SameSite on
//   requests marked cross-site). Where tough-cookie and a browser differ, the jar is configured or
//   nudged towards the browser; each case is commented where it happens. Not modelled: cookie
//   size and count limits, the rule that an http page cannot overwrite a Secure cookie, and
//   Max-Age counting from storage (tough-cookie counts it from the cookie's last use, which only
//   matters to a test that waits for a cookie to expire; tests move server clocks instead).
// - Resolves `localhost` and `*.localhost` to 127.0.0.1 so `http://acme.localhost:<port>/`
//   reaches a server listening on 127.0.0.1, with the Host header a browser would send.
import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { Cookie, CookieJar } from 'tough-cookie';
import { Agent, request } from 'undici';

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
  /** Every live cookie whose domain matches `hostname` (any path, Secure or not), as copies, oldest first. */
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

type SameSiteContext = 'strict' | 'lax' | 'none';

function sameSiteName(value: string | undefined): StoredCookie['sameSite'] {
  return value === 'strict' ? 'Strict' : value === 'lax' ? 'Lax' : value === 'none' ? 'None' : undefined;
}

function toStoredCookie(cookie: Cookie): StoredCookie {
  const expiry = cookie.expiryTime();
  return {
    name: cookie.key,
    value: cookie.value,
    domain: cookie.domain ?? '',
    hostOnly: cookie.hostOnly === true,
    path: cookie.path ?? '/',
    secure: cookie.secure,
    httpOnly: cookie.httpOnly,
    sameSite: sameSiteName(cookie.sameSite),
    expiresAt: expiry === undefined || !Number.isFinite(expiry) ? undefined : expiry,
    createdAt: cookie.creation instanceof Date ? cookie.creation.getTime() : 0,
  };
}

function createCookieJar(treatAsHttps: boolean) {
  const jar = new CookieJar(null, {
    // http://localhost is not a secure context here: Secure cookies need https (or `treatAsHttps`),
    // so a test cannot pass only because the jar is laxer than the proxy-fronted production setup.
    allowSecureOnLocal: false,
    prefixSecurity: 'strict',
    // Browsers keep nameless cookies (`Set-Cookie: token`); so do we.
    looseMode: true,
  });
  const cookieUrl = (input: string | URL): URL => {
    const url = new URL(input);
    if (treatAsHttps && url.protocol === 'http:') url.protocol = 'https:';
    return url;
  };

  return {
    store(input: string | URL, line: string): boolean {
      const url = cookieUrl(input);
      const cookie = Cookie.parse(line, { loose: true });
      if (cookie === undefined) return false;
      // tough-cookie accepts special-use names such as `localhost` as registrable domains, so
      // `Domain=localhost` from a.localhost would reach every clinic's host. Browsers treat a
      // single-label Domain as a public suffix: allowed only as the request host itself.
      if (cookie.domain !== null && !cookie.domain.includes('.') && cookie.domain !== url.hostname) return false;
      return jar.setCookieSync(cookie, url, { ignoreError: true }) !== undefined;
    },

    matching(input: string | URL, context: SameSiteContext): Cookie[] {
      const cookies = jar.getCookiesSync(cookieUrl(input), { sameSiteContext: context, sort: true });
      // tough-cookie sends a cookie without a SameSite attribute everywhere; browsers treat it as Lax.
      return context === 'none' ? cookies.filter((c) => c.sameSite !== undefined) : cookies;
    },

    forHost(hostname: string): StoredCookie[] {
      return jar
        .getCookiesSync(`https://${hostname}/`, { allPaths: true })
        .sort((a, b) => a.creationIndex - b.creationIndex)
        .map(toStoredCookie);
    },

    clear(): void {
      jar.removeAllCookiesSync();
    },
  };
}

function sameSiteContext(method: string, crossSite: boolean): SameSiteContext {
  if (!crossSite) return 'strict';
  return method === 'GET' || method === 'HEAD' ? 'lax' : 'none';
}

function serialize(cookies: Cookie[]): string {
  return cookies.map((c) => c.cookieString()).join('; ');
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
  const jar = createCookieJar(options.treatAsHttps === true);
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
      const cookie = serialize(jar.matching(url, sameSiteContext(method, opts.crossSite === true)));
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
    cookieHeader: (url) => serialize(jar.matching(url, 'strict')),
    setCookie: (url, line) => jar.store(url, line),
    clearCookies: () => jar.clear(),
    close: () => agent.close(),
  };
}
