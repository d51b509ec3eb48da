// Applies the admission rule (sso-admission.ts) to a clinic's users: finds the user linked to
// (issuer, subject), or the invited user with the same e-mail, and links or creates as decided, in
// one transaction on the clinic's schema.
import { sql } from 'kysely';
import { isUniqueViolation } from '../../infra/errors.ts';
import type { TenantDb } from '../../tenancy/tenant-database.ts';
import { decideAdmission, type AdmissionRules, type SsoIdentity } from './admission.ts';
import { normalizeEmail } from '../users.ts';

export type SsoUserResult =
  | { admitted: true; userId: string; outcome: 'existing' | 'link' | 'create' }
  | { admitted: false; reason: 'not_admitted' | 'disabled' };

export async function admitSsoUser(db: TenantDb, identity: SsoIdentity, rules: AdmissionRules): Promise<SsoUserResult> {
  try {
    return await attempt(db, identity, rules);
  } catch (error) {
    // Two first sign-ins of the same person at once: the other one linked or created first.
    if (isUniqueViolation(error)) return attempt(db, identity, rules);
    throw error;
  }
}

async function attempt(db: TenantDb, identity: SsoIdentity, rules: AdmissionRules): Promise<SsoUserResult> {
  return db.transaction().execute(async (trx) => {
    const linked = await trx
      .selectFrom('user_identities')
      .innerJoin('users', 'users.id', 'user_identities.user_id')
      .select(['users.id', 'users.disabled'])
      .where('user_identities.issuer', '=', identity.issuer)
      .where('user_identities.subject', '=', identity.subject)
      .executeTakeFirst();
    const email = identity.email === null ? null : normalizeEmail(identity.email);
    const sameEmail = email === null
      ? undefined
      : await trx
          .selectFrom('users')
          .select(['users.id', 'users.disabled'])
          .select((eb) =>
            eb
              .exists(eb.selectFrom('user_identities').select(sql`1`.as('one')).whereRef('user_identities.user_id', '=', 'users.id').where('user_identities.issuer', '=', identity.issuer))
              .as('has_identity'),
          )
          .where('users.email', '=', email)
          .executeTakeFirst();

    const decision = decideAdmission({
      identity,
      rules,
      linked: linked ?? null,
      sameEmail: sameEmail === undefined ? null : { id: sameEmail.id, disabled: sameEmail.disabled, hasIdentityAtIssuer: sameEmail.has_identity === true },
    });

    switch (decision.outcome) {
      case 'refused':
        return { admitted: false, reason: decision.reason };
      case 'existing':
        await trx
          .updateTable('user_identities')
          .set({ last_used_at: new Date(), email: identity.email })
          .where('issuer', '=', identity.issuer)
          .where('subject', '=', identity.subject)
          .execute();
        return { admitted: true, userId: decision.userId, outcome: 'existing' };
      case 'link':
        await trx
          .insertInto('user_identities')
          .values({ user_id: decision.userId, issuer: identity.issuer, subject: identity.subject, email: identity.email, last_used_at: new Date() })
          .execute();
        return { admitted: true, userId: decision.userId, outcome: 'link' };
      case 'create': {
        const user = await trx
          .insertInto('users')
          .values({ email: decision.email, name: identity.name ?? '', role: 'staff' })
          .returning('id')
          .executeTakeFirstOrThrow();
        await trx
          .insertInto('user_identities')
          .values({ user_id: user.id, issuer: identity.issuer, subject: identity.subject, email: identity.email, last_used_at: new Date() })
          .execute();
        return { admitted: true, userId: user.id, outcome: 'create' };
      }
    }
  });
}
