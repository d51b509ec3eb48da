// Who may sign in with single sign-on, decided in one pure function (issue 3 points 5 and 6).
// SSO users are identified by (issuer, subject), never by e-mail alone. An unknown identity is
// admitted only
//   - if invited: a user with that e-mail exists and has no identity at this issuer yet (the
//     identity is then linked to it), or
//   - when the clinic admits by domain: the e-mail's domain is one the clinic allows (a staff user
//     is created).
// Both need an e-mail the identity provider says is verified: linking or creating by an unverified
// address would let anyone claim a colleague's account.

export interface SsoIdentity {
  issuer: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
}

export type AdmitMode = 'invited' | 'domain';

export interface AdmissionRules {
  admit: AdmitMode;
  allowedEmailDomains: readonly string[];
}

export interface KnownUser {
  id: string;
  disabled: boolean;
}

export interface UserWithEmail extends KnownUser {
  /** The user already has an identity at this issuer (with another subject). */
  hasIdentityAtIssuer: boolean;
}

export type Admission =
  | { outcome: 'existing'; userId: string }
  | { outcome: 'link'; userId: string }
  | { outcome: 'create'; email: string }
  | { outcome: 'refused'; reason: 'not_admitted' | 'disabled' };

export interface AdmissionInput {
  identity: SsoIdentity;
  rules: AdmissionRules;
  /** The user linked to (issuer, subject), if any. */
  linked: KnownUser | null;
  /** The user whose e-mail is the identity's e-mail (compared case-insensitively), if any. */
  sameEmail: UserWithEmail | null;
}

/** The domain of an e-mail address, lowercased; null when there is none. */
export function emailDomain(email: string): string | null {
  const at = email.lastIndexOf('@');
  if (at <= 0 || at === email.length - 1) return null;
  return email.slice(at + 1).toLowerCase().replace(/\.$/, '');
}

export function isDomainAllowed(email: string, allowed: readonly string[]): boolean {
  const domain = emailDomain(email);
  return domain !== null && allowed.some((d) => d.toLowerCase() === domain);
}

export function decideAdmission(input: AdmissionInput): Admission {
  const { identity, rules, linked, sameEmail } = input;
  if (linked !== null) {
    return linked.disabled ? { outcome: 'refused', reason: 'disabled' } : { outcome: 'existing', userId: linked.id };
  }
  if (identity.email === null || !identity.emailVerified) return { outcome: 'refused', reason: 'not_admitted' };
  if (sameEmail !== null) {
    if (sameEmail.disabled) return { outcome: 'refused', reason: 'disabled' };
    // Someone else at this issuer already holds that account: never re-link by e-mail.
    if (sameEmail.hasIdentityAtIssuer) return { outcome: 'refused', reason: 'not_admitted' };
    return { outcome: 'link', userId: sameEmail.id };
  }
  if (rules.admit === 'domain' && isDomainAllowed(identity.email, rules.allowedEmailDomains)) {
    return { outcome: 'create', email: identity.email.trim().toLowerCase() };
  }
  return { outcome: 'refused', reason: 'not_admitted' };
}
