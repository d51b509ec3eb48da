// Sign-up whose first admin signs in with a platform provider (PLATFORM_OIDC_PROVIDERS) instead of
// choosing a password. The story spans three hosts:
//   1. POST /signup on the platform host checks the clinic's fields (platform-host-routes.ts) and
//      signs them into a short-lived `signup` request (tokens.ts: its own key and audience), bound
//      to the provider and the base domain; the browser goes to the auth host with it.
//   2. The auth host runs the provider's code flow exactly as for a sign-in (auth-host-routes.ts:
//      state, nonce, PKCE, the ID token checked) and hands the identity to `complete` below.
//   3. `complete` provisions the clinic with its admin linked to that identity (service.ts, all or
//      nothing) and answers the clinic host's hand-off URL, where the admin's session is created.
// Nothing is created before the provider has answered; a request used twice finds its address
// taken (and the second browser is told so); one older than its TTL is refused.
import type { FastifyBaseLogger } from 'fastify';
import { Type } from 'typebox';
import type { Config } from '../config.ts';
import { shapeOf } from '../infra/schemas.ts';
import { originFor, tenantUrl } from '../infra/urls.ts';
import type { RequestOrigin } from '../patients/audit.ts';
import type { SsoTokens } from '../auth/sso/tokens.ts';
import type { ProviderSignupHandler, SignupIdentity } from '../auth/sso/platform/auth-host-routes.ts';
import { signupErrors } from './errors.ts';
import { ssoErrors } from '../auth/sso/errors.ts';
import type { ValidClinicForm } from './form.ts';
import type { SignupService } from './service.ts';
import { SIGNUP_COMPLETE_PATH, SIGNUP_PATH } from './platform-host-routes.ts';

/** How long the admin may take at the provider before the sign-up must start again. */
export const SIGNUP_REQUEST_TTL_SECONDS = 600;

const RequestClaims = Type.Object({
  cn: Type.String({ minLength: 1 }),
  sl: Type.String({ minLength: 1 }),
  rg: Type.String({ minLength: 1 }),
  an: Type.String({ minLength: 1 }),
  pid: Type.String({ minLength: 1 }),
  bd: Type.String({ minLength: 1 }),
});
const requestClaims = shapeOf(RequestClaims);

export function createProviderSignup(deps: { config: Config; tokens: SsoTokens; signup: SignupService }) {
  const { config, tokens, signup } = deps;

  async function read(token: string, providerId: string, baseDomain: string): Promise<ValidClinicForm | null> {
    const claims = await tokens.verify('signup', token);
    if (!requestClaims.check(claims) || claims.pid !== providerId || claims.bd !== baseDomain) return null;
    return { clinicName: claims.cn, slug: claims.sl, regionId: claims.rg, adminName: claims.an };
  }

  const handler: ProviderSignupHandler = {
    formUrl: (baseDomain) => `${originFor(config, null, baseDomain)}${SIGNUP_PATH}`,

    accepts: async (token, providerId, baseDomain) => (await read(token, providerId, baseDomain)) !== null,

    async complete(token: string, identity: SignupIdentity, context: { baseDomain: string; log: FastifyBaseLogger; origin: RequestOrigin }): Promise<string> {
      const form = await read(token, identity.providerId, context.baseDomain);
      if (form === null) throw ssoErrors.signupRequestInvalid();
      const result = await signup.completeForProvider(form, identity, { log: context.log, origin: context.origin });
      if (!result.ok) throw signupErrors.providerSignupRefused(Object.values(result.errors).join(' '));
      const target = new URL(tenantUrl(config, result.tenant.slug, SIGNUP_COMPLETE_PATH, context.baseDomain));
      target.searchParams.set('token', result.handoffToken);
      return target.href;
    },
  };

  return {
    handler,
    /** The signed request that carries a checked form to the auth host. */
    request(form: ValidClinicForm, providerId: string, baseDomain: string): Promise<string> {
      return tokens.sign('signup', { cn: form.clinicName, sl: form.slug, rg: form.regionId, an: form.adminName, pid: providerId, bd: baseDomain }, SIGNUP_REQUEST_TTL_SECONDS);
    },
  };
}

export type ProviderSignup = ReturnType<typeof createProviderSignup>;
