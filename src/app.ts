// Builds the Fastify application from plugins. server.ts listens with it; tests drive it with
// inject() or a real listening socket. The app does not own the runtime (pools, directory): whoever
// created the runtime closes it.
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import helmet from '@fastify/helmet';
import formbody from '@fastify/formbody';
import type { Runtime } from './runtime.ts';
import { registerErrorHandling } from './infra/http.ts';
import { healthRoutes } from './infra/health.ts';
import { assetRoutes } from './infra/assets.ts';
import { createMetrics } from './infra/metrics.ts';
import { tenancyPlugin } from './tenancy/plugin.ts';
import { siteRoutes } from './tenancy/site-routes.ts';
import { resolveSecrets } from './infra/secrets.ts';
import { sessionPlugin } from './auth/session/plugin.ts';
import { csrfPlugin } from './auth/csrf.ts';
import { loginRoutes } from './auth/password/clinic-host-routes.ts';
import { createPasswordHasher } from './auth/password/hasher.ts';
import { createLoginThrottle } from './auth/password/throttle.ts';
import { registerSso } from './auth/sso/plugin.ts';
import { requestLogSerializer } from './infra/log.ts';
import { createClinikoClient, type ClinikoClient } from './cliniko/client/client.ts';
import { createSecretBox, parseKeyring } from './infra/crypto.ts';
import { createPatientSync, type PatientSync } from './patients/sync.ts';
import { patientRoutes } from './patients/routes.ts';
import { createAuditWriter } from './patients/audit.ts';

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
    /** The process's one Cliniko client (keep-alive pools per shard), closed with the app. */
    cliniko: ClinikoClient;
    /** Patient refreshes; `idle()` waits for background ones (shutdown, tests). */
    patientSync: PatientSync;
  }
}

export function loggerOptions(level: string): FastifyServerOptions['logger'] {
  return {
    level,
    // Never log credentials: cookies carry session IDs, Authorization carries keys.
    redact: {
      paths: ['req.headers.cookie', 'req.headers.authorization', 'res.headers["set-cookie"]', '*.password', '*.apiKey', '*.token'],
      censor: '[redacted]',
    },
    // Sign-in URLs carry one-time codes and tokens in their query.
    serializers: { req: requestLogSerializer },
  };
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
  });

  registerErrorHandling(app);
  const metrics = createMetrics({ databases: runtime.databases });
  app.decorate('metrics', metrics.registry);
  await app.register(metrics.plugin);
  await app.register(helmet, {
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
  });
  await app.register(tenancyPlugin, {
    baseDomains: config.baseDomains,
    directory: runtime.directory,
    regions: runtime.databases.regions,
  });
  // Sessions and the signed-in user (after tenancy: a session belongs to the host's clinic).
  await app.register(formbody);
  await app.register(sessionPlugin, { config, secret: resolveSecrets(config).sessionSecret, regions: runtime.databases.regions });
  await app.register(csrfPlugin);
  await app.register(healthRoutes, { databases: runtime.databases });
  await app.register(assetRoutes);
  await app.register(siteRoutes);
  await app.register(loginRoutes, {
    hasher: createPasswordHasher({ memoryKib: config.auth.passwordHashMemoryKib }),
    throttle: createLoginThrottle({
      pool: runtime.databases.controlPool,
      maxFailuresPerAccount: config.auth.loginMaxFailuresPerAccount,
      maxFailuresPerIp: config.auth.loginMaxFailuresPerIp,
    }),
  });
  // Single sign-on: the clinic's own OIDC provider, platform providers and the auth host.
  await registerSso(app, { runtime });
  // The patient button: one Cliniko client for the process, its base URL from configuration only.
  const cliniko = createClinikoClient({ apiBase: config.cliniko.apiBase, contactEmail: config.cliniko.contactEmail });
  const patientSync = createPatientSync({ client: cliniko, box: createSecretBox(parseKeyring(resolveSecrets(config).encryptionKeys)), settings: config.patients });
  app.decorate('cliniko', cliniko);
  app.decorate('patientSync', patientSync);
  app.addHook('onClose', async () => {
    await patientSync.idle();
    await cliniko.close();
  });
  await app.register(patientRoutes, { config, sync: patientSync, audit: createAuditWriter() });
  return app;
}
