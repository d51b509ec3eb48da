// A clinic's sign-in page: the password form when the clinic allows passwords, and a button for
// each single sign-on method the clinic enabled (its own OIDC provider, the platform providers it
// allows). The password routes render it again with their errors.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendPage } from '../infra/html.ts';
import { csrfToken as issueCsrfToken } from './csrf.ts';
import { requireClinic } from '../tenancy/plugin.ts';
import { getAuthSettings, type AuthSettings } from './settings.ts';
import { OIDC_LOGIN_PATH } from './sso/clinic/clinic-host-routes.ts';
import { platformLoginPath } from './sso/platform/clinic-host-routes.ts';
import { clinicOidcOf } from './sso/settings.ts';

export interface SignInButton {
  /** Stable id, e.g. `oidc` or `platform-google` (tests and CSS hooks). */
  id: string;
  /** "Sign in with ..." */
  label: string;
  /** A same-host path that starts the sign-in (GET). */
  href: string;
}

export function ssoButtons(request: FastifyRequest, settings: AuthSettings): SignInButton[] {
  const buttons: SignInButton[] = [];
  const own = clinicOidcOf(settings);
  if (own !== null) buttons.push({ id: 'oidc', label: `Sign in with your clinic account (${new URL(own.issuer).host})`, href: OIDC_LOGIN_PATH });
  // Platform providers this Sidechart offers (sso/plugin.ts) and this clinic allows. One that was
  // down at boot still shows: its page then says so, rather than the button silently vanishing.
  for (const provider of request.server.platformProviders) {
    if (settings.platformProviders.includes(provider.id)) {
      buttons.push({ id: `platform-${provider.id}`, label: `Sign in with ${provider.config.name}${provider.available ? '' : ' (temporarily unavailable)'}`, href: platformLoginPath(provider.id) });
    }
  }
  return buttons;
}

export interface LoginPageOptions {
  statusCode?: number;
  /** Shown above the form (already worded for the user). */
  error?: string | null;
  /** Prefills the e-mail field. */
  email?: string;
}

/** Renders the clinic's sign-in page. */
export async function sendLoginPage(request: FastifyRequest, reply: FastifyReply, options: LoginPageOptions = {}): Promise<FastifyReply> {
  const { tenant, db } = requireClinic(request);
  const settings = await getAuthSettings(db);
  // The form's CSRF secret cookie (csrf.ts): only when there is a form. Nothing is stored.
  const csrfToken = settings.passwordEnabled ? issueCsrfToken(request, reply) : null;
  reply.header('cache-control', 'no-store');
  return sendPage(
    reply,
    'auth/views/login',
    {
      title: 'Sign in',
      clinicName: tenant.displayName,
      passwordEnabled: settings.passwordEnabled,
      csrfToken,
      buttons: ssoButtons(request, settings),
      error: options.error ?? null,
      email: options.email ?? '',
    },
    options.statusCode ?? 200,
  );
}
