// The end of sign-up, on the new clinic's host: GET /signup/complete?token=… consumes the hand-off
// made by sign-up (POST /signup, or the auth host's callback for a platform provider; handoffs.ts,
// the mechanism the platform sign-in uses: signed, 60 seconds, single use, stored only as a hash,
// for this clinic only) and signs its admin in with a session on
// this host. Unlike a platform provider's hand-off there is no login attempt in this browser's
// session to bind it to (the browser has never been here); the token is what the platform host
// gave this browser in its redirect, it is burnt on first presentation and redacted from logs.
import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { signInRateLimit } from '../infra/load.ts';
import { requireClinic, requireTenant } from '../tenancy/plugin.ts';
import type { Handoffs } from '../auth/sso/platform/handoffs.ts';
import { signIn } from '../auth/session/sign-in.ts';
import { signupErrors } from './errors.ts';
import { SIGNUP_ISSUER, SIGNUP_PLATFORM_ISSUER, SIGNUP_PROVIDER_ID } from './service.ts';
import { SIGNUP_COMPLETE_PATH } from './platform-host-routes.ts';

export interface SignupClinicHostRoutesOptions {
  handoffs: Handoffs;
  signInPerMinute: number;
}

export async function signupClinicHostRoutes(fastify: FastifyInstance, options: SignupClinicHostRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    SIGNUP_COMPLETE_PATH,
    { preHandler: requireTenant, schema: { querystring: Type.Object({ token: Type.String({ maxLength: 4096 }) }) }, config: { ...signInRateLimit(options.signInPerMinute), whileReadOnly: 'sign-in' } },
    async (request, reply) => {
      const { tenant, db } = requireClinic(request);
      reply.header('cache-control', 'no-store');
      const handoff = await options.handoffs.consume(request.query.token);
      const issuer = handoff?.payload.issuer;
      if (handoff === null || handoff.tenantId !== tenant.id || handoff.payload.providerId !== SIGNUP_PROVIDER_ID || (issuer !== SIGNUP_ISSUER && issuer !== SIGNUP_PLATFORM_ISSUER)) {
        throw signupErrors.handoffInvalid();
      }
      const admin = await db.selectFrom('users').select(['id', 'role', 'disabled']).where('id', '=', handoff.payload.subject).executeTakeFirst();
      if (admin === undefined || admin.role !== 'admin' || admin.disabled) throw signupErrors.handoffInvalid();
      return signIn(request, reply, { id: admin.id }, { method: issuer === SIGNUP_PLATFORM_ISSUER ? 'platform' : 'password' });
    },
  );
}
