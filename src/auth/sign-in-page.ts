// The single sign-on buttons of a clinic's sign-in page (the password form is the login page's
// own). SSO work adds its methods here: the clinic's own OIDC provider, the platform providers the
// clinic allows. Only methods the clinic enabled may appear.
import type { FastifyRequest } from 'fastify';
import { OIDC_LOGIN_PATH } from './sso/clinic/clinic-host-routes.ts';
import { platformLoginPath } from './sso/platform/clinic-host-routes.ts';
import type { AuthSettings } from './settings.ts';
import { clinicOidcOf } from './sso/settings.ts';

export interface SignInButton {
  /** Stable id, e.g. `oidc` or `platform-google` (tests and CSS hooks). */
  id: string;
  /** "Sign in with ..." */
  label: string;
  /** A same-host path that starts the sign-in (GET). */
  href: string;
}

export async function ssoButtons(request: FastifyRequest, settings: AuthSettings): Promise<SignInButton[]> {
  const buttons: SignInButton[] = [];
  const own = clinicOidcOf(settings);
  if (own !== null) buttons.push({ id: 'oidc', label: `Sign in with your clinic account (${new URL(own.issuer).host})`, href: OIDC_LOGIN_PATH });
  // Platform providers this Sidechart offers (sso-routes.ts) and this clinic allows. One that was
  // down at boot still shows: its page then says so, rather than the button silently vanishing.
  const offered = request.server.hasDecorator('platformProviders') ? request.server.platformProviders : [];
  for (const provider of offered) {
    if (settings.platformProviders.includes(provider.id)) {
      buttons.push({ id: `platform-${provider.id}`, label: `Sign in with ${provider.config.name}`, href: platformLoginPath(provider.id) });
    }
  }
  return buttons;
}
