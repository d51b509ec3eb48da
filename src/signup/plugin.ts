// Sign-up, wired once: the form on the platform host and the hand-off's end on the new clinic's
// host. Not wrapped in fastify-plugin: it decorates nothing. `createSignup` is built before the
// single sign-on plugin, whose auth host runs the provider's part of a sign-up with a platform
// provider (provider-signup.ts).
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.ts';
import type { Runtime } from '../runtime.ts';
import { createSignupService, type SignupService } from './service.ts';
import { createProviderSignup, type ProviderSignup } from './provider-signup.ts';
import { signupPlatformRoutes } from './platform-host-routes.ts';
import { signupClinicHostRoutes } from './clinic-host-routes.ts';

export interface Signup {
  service: SignupService;
  providerSignup: ProviderSignup;
}

export function createSignup(options: Pick<Runtime, 'tenants' | 'regions' | 'clinics' | 'passwords' | 'handoffs' | 'ssoTokens'> & { config: Config }): Signup {
  const service = createSignupService(options);
  return { service, providerSignup: createProviderSignup({ config: options.config, tokens: options.ssoTokens, signup: service }) };
}

export interface SignupPluginOptions extends Pick<Runtime, 'handoffs' | 'platformProviders'> {
  config: Config;
  signup: Signup;
}

export async function signupRoutes(app: FastifyInstance, options: SignupPluginOptions): Promise<void> {
  const { config, signup } = options;
  await app.register(signupPlatformRoutes, {
    config,
    signup: signup.service,
    providers: options.platformProviders,
    providerSignup: signup.providerSignup,
    perHour: config.load.signUpPerHour,
  });
  await app.register(signupClinicHostRoutes, { handoffs: options.handoffs, signInPerMinute: config.load.signInPerMinute });
}
