// Builds the Fastify application from plugins. server.ts listens with it; tests drive it with
// inject() or a real listening socket. Each plugin gets from the runtime (the composition root,
// runtime.ts) exactly the parts it needs; the app does not own them: whoever created the runtime
// closes it. A new route is one file in its domain folder plus one registration line here.
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import formbody from '@fastify/formbody';
import type { Runtime } from './runtime.ts';
import { registerErrorHandling } from './infra/http.ts';
import { securityHeadersPlugin } from './infra/security-headers.ts';
import { loadPlugin } from './infra/load.ts';
import { healthRoutes } from './infra/health.ts';
import { assetRoutes } from './infra/assets.ts';
import { loggerOptions } from './infra/log.ts';
import { createMetrics } from './infra/metrics.ts';
import { tenancyPlugin } from './tenancy/plugin.ts';
import { siteRoutes } from './tenancy/site-routes.ts';
import { readOnlyPlugin } from './tenancy/read-only.ts';
import { clinicHome, HomeQuery } from './patients/home.ts';
import { sessionPlugin } from './auth/session/plugin.ts';
import { sessionRoutes } from './auth/session/clinic-host-routes.ts';
import { csrfPlugin } from './auth/csrf.ts';
import { passwordRoutes } from './auth/password/clinic-host-routes.ts';
import { ssoPlugin } from './auth/sso/plugin.ts';
import { patientRoutes } from './patients/routes.ts';
import { adminPlugin } from './admin/plugin.ts';
import { invitationRoutes } from './auth/invitations.ts';
import { createSignup, signupRoutes } from './signup/plugin.ts';

export interface BuildAppOptions {
  runtime: Runtime;
  /** Fastify logger options; false in tests that do not want logs. */
  logger?: FastifyServerOptions['logger'];
  /** A pino instance shared with the rest of the process (server.ts). */
  loggerInstance?: FastifyBaseLogger;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Prometheus registry; server.ts serves it on the metrics port. */
    metrics: import('prom-client').Registry;
  }
}

export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const { runtime } = options;
  const { config } = runtime;
  const app: FastifyInstance = Fastify({
    ...(options.loggerInstance ? { loggerInstance: options.loggerInstance } : { logger: options.logger ?? loggerOptions(config.logLevel) }),
    trustProxy: config.trustedProxies.length > 0 ? config.trustedProxies : false,
    genReqId: () => randomUUID(),
    requestIdHeader: false, // a client-chosen id would let callers forge log correlation
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
    // A request (headers and body) that does not arrive in time gets a 408 and its socket closed;
    // Node checks every second, so the answer comes within a second of the deadline.
    requestTimeout: config.http.requestTimeoutMs,
    keepAliveTimeout: config.http.keepAliveTimeoutMs,
    connectionTimeout: config.http.socketTimeoutMs,
    http: { headersTimeout: config.http.headersTimeoutMs, connectionsCheckingInterval: Math.min(1_000, config.http.headersTimeoutMs) },
  });

  registerErrorHandling(app);
  const metrics = createMetrics({ databases: runtime.databases });
  app.decorate('metrics', metrics.registry);
  await app.register(metrics.plugin);
  await app.register(securityHeadersPlugin, {
    helmet: {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        objectSrc: ["'none'"],
      },
    },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: config.publicScheme === 'https' ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    crossOriginEmbedderPolicy: false,
    // The same answer as CSP frame-ancestors 'none', for browsers that only know this header.
    xFrameOptions: { action: 'deny' },
    },
    // No page of ours uses any of these browser features.
    permissionsPolicy: 'accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), midi=(), payment=(), usb=(), interest-cohort=()',
  });
  // Overload and per-address limits, before any work is done for a request.
  await app.register(loadPlugin, config.load);
  await app.register(tenancyPlugin, { baseDomains: config.baseDomains, clinics: runtime.clinics, forwarder: runtime.forwarder });
  // Sessions and the signed-in user (after tenancy: a session belongs to the host's clinic).
  await app.register(formbody);
  await app.register(sessionPlugin, { config, secret: runtime.secrets.sessionSecret, clinics: runtime.clinics, cache: runtime.sessionCache });
  await app.register(csrfPlugin, { secret: runtime.secrets.sessionSecret, secure: config.publicScheme === 'https' });
  // A read-only clinic (moving between regions) refuses every change here, in one place.
  await app.register(readOnlyPlugin);
  await app.register(healthRoutes, { databases: runtime.databases, serves: runtime.serves });
  await app.register(assetRoutes);
  await app.register(siteRoutes, { clinicHome: { querystring: HomeQuery, handler: clinicHome } });
  await app.register(sessionRoutes);
  await app.register(passwordRoutes, { hasher: runtime.passwords, throttle: runtime.loginThrottle, perMinute: config.load.signInPerMinute });
  // Accepting a staff invitation (the link an admin sends from /admin/staff).
  await app.register(invitationRoutes, { hasher: runtime.passwords });
  const signup = createSignup({ ...runtime, config });
  // Single sign-on: the clinic's own OIDC provider, platform providers and the auth host (which
  // also runs a sign-up's sign-in at a platform provider).
  await app.register(ssoPlugin, {
    signup: signup.providerSignup.handler,
    config,
    box: runtime.secrets.box,
    tokens: runtime.ssoTokens,
    handoffs: runtime.handoffs,
    oidcClients: runtime.oidcClients,
    platformProviders: runtime.platformProviders,
    clinics: runtime.clinics,
  });
  // Sign-up on the platform host, ending signed in on the new clinic's host.
  await app.register(signupRoutes, { config, signup, handoffs: runtime.handoffs, platformProviders: runtime.platformProviders });
  // The patient button.
  await app.register(patientRoutes, { config, sync: runtime.patientSync, audit: runtime.audit, anonymousRequests: metrics.anonymousPatientRequests, anonymousPerMinute: config.load.anonymousPatientPerMinute });
  // The admin area (/admin on a clinic's host, admins only).
  await app.register(adminPlugin, {
    prefix: '/admin',
    config,
    mailer: runtime.mailer,
    cliniko: { client: runtime.cliniko, box: runtime.secrets.box, apiBase: config.cliniko.apiBase },
    signIn: { box: runtime.secrets.box, oidcClients: runtime.oidcClients },
  });
  // Background refreshes finish before the runtime's pools close.
  app.addHook('onClose', async () => runtime.patientSync.idle());
  return app;
}
