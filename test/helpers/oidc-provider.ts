// A real OpenID Provider (oidc-provider 9) on a loopback port, for tests.
//
// - Issuer `http://127.0.0.1:<port>`; plain HTTP is fine here (oidc-provider only sets the
//   Secure flag on its cookies when the request is secure, and accepts http redirect URIs
//   for `web` clients using the code flow).
// - Authorization code flow only, PKCE S256 required for every client, `iss` in every
//   authorization response (RFC 9207: always on in oidc-provider 9 for non-JARM responses,
//   advertised as `authorization_response_iss_parameter_supported`).
// - ID tokens signed RS256 with a key pair generated at start; `email`, `email_verified` and
//   `name` are in the ID token (conformIdTokenClaims: false) and at userinfo for
//   `openid email profile`.
// - No devInteractions: a tiny set of JSON interaction routes (below) that `completeAuthorization`
//   drives over real HTTP with a cookie jar, logging in the given account and granting what
//   the client asked for. No HTML scraping, no browser.
// - Each instance has its own in-memory storage, keys, and cookie keys, so several can run
//   at once and none accepts another's codes or cookies.
//
// Interaction routes (the provider redirects the user agent to /interaction/<uid>):
//   GET  /interaction/<uid>          -> JSON { uid, prompt: { name, reasons, details }, params }
//   POST /interaction/<uid>/login    form accountId=<id>  (400 JSON for an unknown account)
//   POST /interaction/<uid>/consent  grants the missing scopes/claims
//   POST /interaction/<uid>/abort    finishes with error=access_denied
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { createHttpClient } from './http-client.ts';
import type { HttpClient, HttpResponse } from './http-client.ts';

export interface OidcTestClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
  /**
   * Default `client_secret_basic` (what Sidechart sends). oidc-provider enforces the
   * registered method: openid-client v6 defaults to client_secret_post when given a secret
   * string, so pass `ClientSecretBasic(secret)` to `discovery()` or register
   * `client_secret_post` here.
   */
  token_endpoint_auth_method?: 'client_secret_basic' | 'client_secret_post';
}

export interface OidcTestAccount {
  email: string;
  /** Default true. */
  email_verified?: boolean;
  name?: string;
}

export interface StartOidcProviderOptions {
  clients: OidcTestClient[];
  /** Account id (becomes `sub`) -> claims. More can be added later with `addAccount`. */
  accounts?: Record<string, OidcTestAccount>;
  /** Listen on this loopback port (e.g. one an app was configured with before the provider started); default any free port. */
  port?: number;
}

export interface CompleteAuthorizationOptions {
  /** Reuse a client (and its provider session cookies); default: a fresh cookie jar per call. */
  httpClient?: HttpClient;
  /** Answer the consent prompt with access_denied instead of granting. */
  deny?: boolean;
}

/** The slice of oidc-provider's Provider API these helpers use (the package ships no types). */
export interface OidcProviderInstance {
  readonly issuer: string;
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
  interactionFinished(
    req: IncomingMessage,
    res: ServerResponse,
    result: Record<string, unknown>,
    options?: { mergeWithLastSubmission?: boolean },
  ): Promise<void>;
  Grant: GrantConstructor;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}

interface InteractionDetails {
  uid: string;
  prompt: { name: string; reasons: string[]; details: Record<string, unknown> };
  params: Record<string, unknown>;
  session?: { accountId?: string };
  grantId?: string;
}

interface GrantInstance {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  addResourceScope(resource: string, scope: string): void;
  save(): Promise<string>;
}

interface GrantConstructor {
  new (init: { accountId: string; clientId: string }): GrantInstance;
  find(id: string): Promise<GrantInstance | undefined>;
}

type ProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => OidcProviderInstance;

export interface OidcTestProvider {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  readonly issuer: string;
  readonly port: number;
  /** The oidc-provider instance, for anything not wrapped here. */
  readonly provider: OidcProviderInstance;
  /** The signing key: `kid`, the public JWK (as served at jwks_uri) and the private CryptoKey (to forge tokens in tests). */
  readonly signingKey: { kid: string; publicJwk: JWK; privateKey: CryptoKey };
  /**
   * Drive an authorization request to its end over real HTTP (no browser): follows the
   * provider's redirects, logs in `accountId`, grants consent, and returns the final
   * Location pointing at the client's redirect_uri (code, state, iss; or error) without
   * requesting it. Throws when the provider answers with anything else (e.g. an error page
   * for an unregistered redirect_uri).
   */
  completeAuthorization(authorizationUrl: string | URL, accountId: string, options?: CompleteAuthorizationOptions): Promise<string>;
  addAccount(accountId: string, account: OidcTestAccount): void;
  /** Stop listening and drop open connections: afterwards the issuer refuses connections ("identity provider down"). Idempotent. */
  close(): Promise<void>;
  readonly closed: boolean;
}

let providerConstructor: Promise<ProviderConstructor> | undefined;
function loadProvider(): Promise<ProviderConstructor> {
  // oidc-provider has no type declarations (and @types/oidc-provider is not installed):
  // a non-literal specifier keeps tsc from resolving the untyped module.
  const specifier: string = 'oidc-provider';
  providerConstructor ??= import(specifier).then((mod: unknown) => (mod as { default: ProviderConstructor }).default);
  return providerConstructor;
}

/** Per-instance in-memory storage for oidc-provider models (its built-in one also logs a warning). */
function memoryAdapterFactory(): (model: string) => object {
  interface Entry { payload: Record<string, unknown>; expiresAt: number | undefined }
  const entries = new Map<string, Entry>();
  const live = (key: string): Entry | undefined => {
    const entry = entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };
  return (model: string) => {
    const key = (id: string): string => `${model}:${id}`;
    return {
      async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void> {
        const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
        entries.set(key(id), { payload, expiresAt });
        if (typeof payload.uid === 'string') entries.set(`uid:${model}:${payload.uid}`, { payload: { id }, expiresAt });
        if (typeof payload.userCode === 'string') entries.set(`userCode:${model}:${payload.userCode}`, { payload: { id }, expiresAt });
      },
      async find(id: string): Promise<Record<string, unknown> | undefined> {
        return live(key(id))?.payload;
      },
      async findByUid(uid: string): Promise<Record<string, unknown> | undefined> {
        const id = live(`uid:${model}:${uid}`)?.payload.id;
        return typeof id === 'string' ? live(key(id))?.payload : undefined;
      },
      async findByUserCode(userCode: string): Promise<Record<string, unknown> | undefined> {
        const id = live(`userCode:${model}:${userCode}`)?.payload.id;
        return typeof id === 'string' ? live(key(id))?.payload : undefined;
      },
      async consume(id: string): Promise<void> {
        const entry = live(key(id));
        if (entry !== undefined) entry.payload.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id: string): Promise<void> {
        entries.delete(key(id));
      },
      async revokeByGrantId(grantId: string): Promise<void> {
        for (const [k, entry] of entries) {
          if (entry.payload.grantId === grantId) entries.delete(k);
        }
      },
    };
  };
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function splitScope(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

export async function startOidcProvider(options: StartOidcProviderOptions): Promise<OidcTestProvider> {
  const Provider = await loadProvider();
  const accounts = new Map<string, OidcTestAccount>(Object.entries(options.accounts ?? {}));

  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;
  const issuerOrigin = new URL(issuer).origin;

  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomBytes(8).toString('hex');
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };

  const provider = new Provider(issuer, {
    adapter: memoryAdapterFactory(),
    clients: options.clients.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      redirect_uris: c.redirect_uris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: c.token_endpoint_auth_method ?? 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    })),
    jwks: { keys: [privateJwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    responseTypes: ['code'],
    pkce: { required: () => true },
    scopes: ['openid', 'email', 'profile'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    conformIdTokenClaims: false,
    // Explicit lifetimes (seconds); the defaults work but log a NOTICE each.
    ttl: { AccessToken: 3600, AuthorizationCode: 60, Grant: 3600, IdToken: 3600, Interaction: 600, Session: 3600 },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx: unknown, id: string) {
      const account = accounts.get(id);
      if (account === undefined) return undefined;
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            email: account.email,
            email_verified: account.email_verified ?? true,
            ...(account.name !== undefined ? { name: account.name } : {}),
          };
        },
      };
    },
    // Errors as JSON rather than an HTML page, so a failing test shows the reason.
    async renderError(ctx: { type: string; body: unknown }, out: Record<string, unknown>) {
      ctx.type = 'json';
      ctx.body = out;
    },
  });
  provider.on('server_error', (_ctx: unknown, err: unknown) => {
    process.stderr.write(`oidc-provider ${issuer} server_error: ${err instanceof Error ? err.stack : String(err)}\n`);
  });

  async function interaction(req: IncomingMessage, res: ServerResponse, uid: string, action: string | undefined): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) return sendJson(res, 400, { error: 'interaction uid does not match the interaction cookie' });
    if (action === undefined) {
      if (req.method !== 'GET') return sendJson(res, 405, { error: 'method not allowed' });
      return sendJson(res, 200, { uid: details.uid, prompt: details.prompt, params: details.params });
    }
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'method not allowed' });
    const form = await readForm(req);
    if (action === 'abort') {
      return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'End-User aborted interaction' }, { mergeWithLastSubmission: false });
    }
    if (action === 'login') {
      if (details.prompt.name !== 'login') return sendJson(res, 400, { error: `prompt is ${details.prompt.name}, not login` });
      const accountId = form.get('accountId') ?? '';
      if (!accounts.has(accountId)) return sendJson(res, 400, { error: `unknown account ${JSON.stringify(accountId)}` });
      return provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
    }
    // consent
    if (details.prompt.name !== 'consent') return sendJson(res, 400, { error: `prompt is ${details.prompt.name}, not consent` });
    const accountId = details.session?.accountId;
    const clientId = details.params.client_id;
    if (accountId === undefined || typeof clientId !== 'string') return sendJson(res, 400, { error: 'no logged-in account or client' });
    const existing = details.grantId !== undefined ? await provider.Grant.find(details.grantId) : undefined;
    const grant = existing ?? new provider.Grant({ accountId, clientId });
    const missingScope = splitScope(details.prompt.details.missingOIDCScope);
    if (missingScope.length > 0) grant.addOIDCScope(missingScope.join(' '));
    const missingClaims = splitScope(details.prompt.details.missingOIDCClaims);
    if (missingClaims.length > 0) grant.addOIDCClaims(missingClaims);
    const missingResourceScopes = details.prompt.details.missingResourceScopes;
    if (typeof missingResourceScopes === 'object' && missingResourceScopes !== null) {
      for (const [resource, scopes] of Object.entries(missingResourceScopes)) {
        grant.addResourceScope(resource, splitScope(scopes).join(' '));
      }
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  const providerCallback = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const { pathname } = new URL(req.url ?? '/', issuer);
    const match = /^\/interaction\/([^/]+)(?:\/(login|consent|abort))?$/.exec(pathname);
    if (match === null) {
      providerCallback(req, res);
      return;
    }
    interaction(req, res, match[1] ?? '', match[2]).catch((err: unknown) => {
      // oidc-provider's errors carry a status (e.g. 400 for a missing or expired interaction).
      const status = typeof err === 'object' && err !== null && 'status' in err && typeof err.status === 'number' ? err.status : 500;
      if (!res.headersSent) sendJson(res, status, { error: err instanceof Error ? err.message : String(err) });
      else res.destroy();
    });
  });

  async function completeAuthorization(
    authorizationUrl: string | URL,
    accountId: string,
    opts: CompleteAuthorizationOptions = {},
  ): Promise<string> {
    const client = opts.httpClient ?? createHttpClient({ resolveLocalhost: true });
    const describe = (res: HttpResponse): string => `${res.status} from ${res.url}: ${res.body.slice(0, 500)}`;
    try {
      let current = new URL(authorizationUrl);
      if (current.origin !== issuerOrigin) throw new Error(`${current.href} is not on issuer ${issuer}`);
      let res = await client.get(current);
      for (let hop = 0; hop < 20; hop++) {
        if (res.status < 300 || res.status > 399 || res.location === undefined) {
          throw new Error(`authorization did not redirect back to the client: ${describe(res)}`);
        }
        const next = new URL(res.location, current);
        if (next.origin !== issuerOrigin) return res.location;
        current = next;
        if (next.pathname.startsWith('/interaction/')) {
          const details = await client.get(next);
          if (details.status !== 200) throw new Error(`interaction failed: ${describe(details)}`);
          const prompt = (details.json() as { prompt: { name: string } }).prompt.name;
          if (prompt === 'login') {
            res = await client.post(`${next.href}/login`, { accountId });
          } else if (prompt === 'consent') {
            res = await client.post(`${next.href}/${opts.deny === true ? 'abort' : 'consent'}`, {});
          } else {
            throw new Error(`unsupported interaction prompt ${prompt}`);
          }
        } else {
          res = await client.get(next);
        }
      }
      throw new Error('too many redirects at the identity provider');
    } finally {
      if (opts.httpClient === undefined) await client.close();
    }
  }

  let closed = false;
  let closing: Promise<void> | undefined;
  return {
    issuer,
    port,
    provider,
    signingKey: { kid, publicJwk, privateKey },
    completeAuthorization,
    addAccount(accountId, account) {
      accounts.set(accountId, account);
    },
    get closed() {
      return closed;
    },
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err === undefined ? resolve() : reject(err)));
        server.closeAllConnections();
      }).then(() => {
        closed = true;
      });
      return closing;
    },
  };
}
