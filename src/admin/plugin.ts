// The admin area on a clinic's host: everything under /admin, for the clinic's administrators only.
// Every route registered here, or by a plugin registered here, runs behind the same two checks:
// the host must be a clinic (404 elsewhere) and the visitor its admin (requireAdmin: staff get a
// 403 page, an anonymous GET the sign-in redirect back to the same page). A section is one file
// with its routes and one line below, and an entry in sections.ts (the index and navigation).
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.ts';
import { requireAdmin } from '../auth/guards.ts';
import { Type } from '@fastify/type-provider-typebox';
import { requireTenant } from '../tenancy/plugin.ts';
import { sendAdminPage } from './sections.ts';
import { auditRoutes } from './audit-routes.ts';
import { buttonRoutes } from './button-routes.ts';
import { clinikoAdminRoutes, type ClinikoAdminOptions } from './cliniko-routes.ts';
import { signInAdminRoutes, type SignInAdminOptions } from './sign-in-routes.ts';
import { staffRoutes } from './staff-routes.ts';
import type { Mailer } from '../infra/mail.ts';

export interface AdminPluginOptions {
  config: Config;
  /** Invitations are e-mailed through it when SMTP is configured. */
  mailer: Mailer;
  /** Verifies and seals the clinic's API key. */
  cliniko: ClinikoAdminOptions;
  /** Seals the clinic's OIDC client secret and checks its provider live. */
  signIn: Omit<SignInAdminOptions, 'config'>;
}

export async function adminPlugin(app: FastifyInstance, options: AdminPluginOptions): Promise<void> {
  app.addHook('preHandler', requireTenant);
  app.addHook('preHandler', requireAdmin);

  app.get('/', { schema: { querystring: Type.Object({}) } }, async (_request, reply) => {
    return sendAdminPage(reply, 'index', null, { title: 'Admin' });
  });

  await app.register(buttonRoutes, { config: options.config });
  await app.register(auditRoutes);
  await app.register(clinikoAdminRoutes, options.cliniko);
  await app.register(signInAdminRoutes, { config: options.config, ...options.signIn });
  await app.register(staffRoutes, { config: options.config, mailer: options.mailer });
}
