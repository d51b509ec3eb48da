// Sign-up on the platform host (the base domain itself), as one story:
//   GET  /signup   the form: clinic name, address, region (those accepting new clinics, with where
//                  the data will live), the first admin's name, e-mail and password.
//   POST /signup   CSRF-checked (csrf.ts: the platform host's own token owner) and rate limited per
//                  client address; a form with problems comes back with the input kept (never the
//                  password) and a message next to each field; a good one is provisioned while the
//                  user waits (service.ts, all or nothing) and the browser is sent to the new
//                  clinic's host with a single-use hand-off, which signs the admin in there
//                  (clinic-host-routes.ts): sessions are host-only, so only that host can set one.
import { requestOrigin } from '../patients/audit.ts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from '../config.ts';
import { csrfToken } from '../auth/csrf.ts';
import { addressPrefix } from '../auth/password/throttle.ts';
import { httpErrors, isAppError } from '../infra/errors.ts';
import { sendPage } from '../infra/html.ts';
import { originFor, tenantUrl } from '../infra/urls.ts';
import { signupErrors } from './errors.ts';
import { suggestSlug, type FieldErrors, type SignupInput } from './form.ts';
import type { SignupService } from './service.ts';
import type { RegionChoice } from './regions.ts';
import type { ProviderSignup } from './provider-signup.ts';
import type { PlatformProviders } from '../auth/sso/platform/providers.ts';
import { AUTH_HOST_LABEL } from '../auth/sso/platform/auth-host-routes.ts';

export const SIGNUP_PATH = '/signup';
export const SIGNUP_COMPLETE_PATH = '/signup/complete';

export interface SignupPlatformRoutesOptions {
  config: Config;
  signup: SignupService;
  /** Platform providers the first admin may sign up with instead of a password. */
  providers: PlatformProviders;
  providerSignup: ProviderSignup;
  /** POST /signup per client address and hour (RATE_LIMIT_SIGN_UP_PER_HOUR). */
  perHour: number;
}

// Generous limits: an over-long value gets a message next to its field, not a bare 400.
const Field = Type.Optional(Type.String({ maxLength: 4096, default: '' }));
const SignupBody = Type.Object({
  clinicName: Field,
  slug: Field,
  region: Field,
  adminName: Field,
  email: Field,
  password: Field,
  /** Set by the "Sign up with <provider>" buttons: the admin signs in there instead of choosing a password. */
  provider: Type.Optional(Type.String({ maxLength: 64 })),
  _csrf: Type.Optional(Type.String({ maxLength: 512 })),
});

const SignupQuery = Type.Object({ name: Type.Optional(Type.String({ maxLength: 200 })) });

interface PageState {
  values: Omit<SignupInput, 'password'>;
  errors: FieldErrors;
  suggestion: string;
  regions: RegionChoice[];
}

function platformBaseDomain(request: FastifyRequest): string {
  if (request.site?.kind !== 'platform') throw httpErrors.notFound();
  return request.site.baseDomain;
}

/**
 * The form's answer is a 303 to the new clinic's host (the hand-off), or, with a platform provider,
 * to the auth host and on to the provider's authorization endpoint; browsers apply the page's CSP
 * form-action to the redirects of a submission too. So this page alone may submit to the hosts of
 * its base domain (`<scheme>://*.<base domain>[:port]`) and to the authorization endpoints of the
 * providers it offers, nowhere else.
 */
function allowSignupRedirects(reply: FastifyReply, config: Config, baseDomain: string, providerOrigins: readonly string[]): void {
  const csp = reply.getHeader('content-security-policy');
  if (typeof csp !== 'string') return;
  reply.header('content-security-policy', csp.replace("form-action 'self'", ["form-action 'self'", originFor(config, '*', baseDomain), ...providerOrigins].join(' ')));
}

interface ProviderChoice {
  id: string;
  name: string;
  available: boolean;
}

/** The providers to offer, and the origins of the authorization endpoints of those that answer. */
async function providerChoices(providers: PlatformProviders): Promise<{ choices: ProviderChoice[]; origins: string[] }> {
  const choices: ProviderChoice[] = [];
  const origins: string[] = [];
  for (const provider of providers.list()) {
    choices.push({ id: provider.id, name: provider.config.name, available: provider.available });
    if (!provider.available) continue;
    const endpoint = (await providers.configurationFor(provider.id)).serverMetadata().authorization_endpoint;
    if (endpoint !== undefined) origins.push(new URL(endpoint).origin);
  }
  return { choices, origins };
}

async function sendSignupPage(request: FastifyRequest, reply: FastifyReply, options: SignupPlatformRoutesOptions, baseDomain: string, state: PageState, statusCode = 200): Promise<FastifyReply> {
  reply.header('cache-control', 'no-store');
  const { choices, origins } = await providerChoices(options.providers);
  allowSignupRedirects(reply, options.config, baseDomain, origins);
  const errorList = Object.entries(state.errors).map(([field, message]) => ({ field, message }));
  return sendPage(
    reply,
    'signup/views/signup',
    {
      title: errorList.length > 0 ? 'Fix the form to set up your clinic' : 'Set up your clinic',
      clinicName: null,
      baseDomain,
      csrfToken: csrfToken(request, reply),
      providers: choices,
      drainedRegions: await options.signup.drainedRegions(),
      ...state,
      errorList,
    },
    statusCode,
  );
}

export async function signupPlatformRoutes(fastify: FastifyInstance, options: SignupPlatformRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { config, signup } = options;

  app.get(SIGNUP_PATH, { schema: { querystring: SignupQuery } }, async (request, reply) => {
    const baseDomain = platformBaseDomain(request);
    const regions = await signup.openRegions();
    const clinicName = request.query.name?.trim() ?? '';
    const suggestion = suggestSlug(clinicName);
    return sendSignupPage(request, reply, options, baseDomain, {
      values: { clinicName, slug: suggestion, region: regions.length === 1 ? regions[0]!.id : '', adminName: '', email: '' },
      errors: {},
      suggestion,
      regions,
    });
  });

  app.post(
    SIGNUP_PATH,
    // Counted per address as the README says of every limit: IPv4 itself, IPv6 by its /64.
    { schema: { body: SignupBody }, config: { rateLimit: { max: options.perHour, timeWindow: 3_600_000, keyGenerator: (request) => `signup:${addressPrefix(request.ip)}` } } },
    async (request, reply) => {
      const baseDomain = platformBaseDomain(request);
      const body = request.body;
      const input: SignupInput = {
        clinicName: body.clinicName ?? '',
        slug: body.slug ?? '',
        region: body.region ?? '',
        adminName: body.adminName ?? '',
        email: body.email ?? '',
        password: body.password ?? '',
      };
      if (body.provider !== undefined && body.provider !== '') return startWithProvider(request, reply, baseDomain, body.provider, input);
      let result;
      try {
        result = await signup.signUp(input, { log: request.log, origin: requestOrigin(request) });
      } catch (error) {
        if (isAppError(error)) throw error;
        request.log.error({ err: error, event: 'signup_failed' }, 'sign-up failed; nothing was kept');
        throw signupErrors.failed();
      }
      if (!result.ok) {
        const { password: _password, ...kept } = input;
        // An empty or unusable address: offer the one made from the clinic's name, filled in.
        const slug = result.errors.slug !== undefined && result.suggestion !== '' && (kept.slug.trim() === '' || result.errors.slug.includes(result.suggestion)) ? result.suggestion : kept.slug;
        const regions = await signup.openRegions();
        return sendSignupPage(request, reply, options, baseDomain, { values: { ...kept, slug }, errors: result.errors, suggestion: result.suggestion, regions }, result.errors.slug?.includes('taken') ? 409 : 400);
      }
      const target = new URL(tenantUrl(config, result.tenant.slug, SIGNUP_COMPLETE_PATH, baseDomain));
      target.searchParams.set('token', result.handoffToken);
      reply.header('cache-control', 'no-store');
      return reply.redirect(target.href, 303);
    },
  );

  /**
   * "Sign up with <provider>": the clinic's fields are checked now (the e-mail and password are not
   * needed: the provider says who the admin is), then the browser goes to the auth host with them
   * signed (provider-signup.ts); the clinic is created only once the provider has answered.
   */
  async function startWithProvider(request: FastifyRequest, reply: FastifyReply, baseDomain: string, providerId: string, input: SignupInput): Promise<FastifyReply> {
    const provider = options.providers.find(providerId);
    if (provider === undefined) throw httpErrors.invalidRequest('unknown provider');
    // One that is not answering: discovery is tried again now, else its 503 page says so.
    await options.providers.configurationFor(provider.id);
    const checked = await signup.checkForProvider(input);
    if (!checked.ok) {
      const { password: _password, ...kept } = input;
      const regions = await signup.openRegions();
      return sendSignupPage(request, reply, options, baseDomain, { values: kept, errors: checked.errors, suggestion: checked.suggestion, regions }, checked.errors.slug?.includes('taken') ? 409 : 400);
    }
    const start = new URL(`${originFor(config, AUTH_HOST_LABEL, baseDomain)}/sso/${provider.id}/signup`);
    start.searchParams.set('request', await options.providerSignup.request(checked.form, provider.id, baseDomain));
    reply.header('cache-control', 'no-store');
    return reply.redirect(start.href, 303);
  }
}
