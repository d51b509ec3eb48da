// Sign-up, wired once: the form on the platform host and the hand-off's end on the new clinic's
// host. Not wrapped in fastify-plugin: it decorates nothing.
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.ts';
import type { Runtime } from '../runtime.ts';
import { createSignupService } from './service.ts';
import { signupPlatformRoutes } from './platform-host-routes.ts';
import { signupClinicHostRoutes } from './clinic-host-routes.ts';

export interface SignupPluginOptions extends Pick<Runtime, 'tenants' | 'regions' | 'clinics' | 'passwords' | 'handoffs'> {
  config: Config;
}

export async function signupRoutes(app: FastifyInstance, options: SignupPluginOptions): Promise<void> {
  const { config } = options;
  const signup = createSignupService(options);
  await app.register(signupPlatformRoutes, { config, signup, perHour: config.load.signUpPerHour });
  await app.register(signupClinicHostRoutes, { handoffs: options.handoffs, signInPerMinute: config.load.signInPerMinute });
}
