// Whether a clinic keeps an administrator who can sign in: the one rule behind refusing a sign-in
// settings change (admin/sign-in-routes.ts) and a staff change (changeStaff in users.ts: disable,
// demote, remove) that would lock every administrator out.
//
// An admin can sign in when they are enabled and
//   - have a password while passwords are on, or
//   - are linked to an SSO identity (user_identities: issuer, subject) whose issuer is a provider the
//     clinic keeps: its own provider's issuer, or the issuer of a platform provider it allows.
// Admission rules (invited / domain) do not count: they let new people in, not an admin who is not
// linked yet, and a first SSO sign-in by e-mail is not something an admin can rely on. The enabled
// admins are locked first, in id order, as changeStaff locks them, so concurrent changes queue
// rather than each seeing the other's old state.
import type { Config } from '../config.ts';
import type { TenantDb } from '../tenancy/tenant-database.ts';
import type { AuthSettings } from './settings.ts';
import { clinicOidcOf } from './sso/settings.ts';

export interface SignInMethods {
  passwordEnabled: boolean;
  /** Issuers of the providers the clinic keeps (its own, and the platform providers it allows). */
  issuers: readonly string[];
}

/** Issuers compare without a trailing slash (a provider's metadata and its configuration may differ there). */
export function sameIssuer(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

/** The ways in that a clinic's settings leave open. */
export function signInMethodsOf(settings: AuthSettings, platformProviders: Config['platformProviders']): SignInMethods {
  const own = clinicOidcOf(settings);
  return {
    passwordEnabled: settings.passwordEnabled,
    issuers: [...(own ? [own.issuer] : []), ...platformProviders.filter((p) => settings.platformProviders.includes(p.id)).map((p) => p.issuer)],
  };
}

/** How many enabled admins (other than `excluding`) can sign in with these methods. */
export async function adminsWhoCanSignIn(trx: TenantDb, methods: SignInMethods, options: { excluding?: string } = {}): Promise<number> {
  const admins = (await trx.selectFrom('users').select(['id', 'password_hash']).where('role', '=', 'admin').where('disabled', '=', false).orderBy('id').forUpdate().execute())
    .filter((admin) => admin.id !== options.excluding);
  if (admins.length === 0) return 0;
  const identities = await trx.selectFrom('user_identities').select(['user_id', 'issuer']).where('user_id', 'in', admins.map((a) => a.id)).execute();
  return admins.filter((admin) =>
    (methods.passwordEnabled && admin.password_hash !== null) ||
    identities.some((i) => i.user_id === admin.id && methods.issuers.some((issuer) => sameIssuer(issuer, i.issuer))),
  ).length;
}
