// The SSO admission rule, table-driven: (issuer, subject) first, then invitation by verified e-mail,
// then the clinic's domain rule; everything else refused.
import t from 'tap';
import { decideAdmission, emailDomain, isDomainAllowed, type AdmissionInput, type Admission } from '../../../src/auth/sso/admission.ts';

const identity = { issuer: 'https://idp.example', subject: 'sub-1', email: 'Jane@Clinic.Example', emailVerified: true, name: 'Jane' };
const domainRules = { admit: 'domain' as const, allowedEmailDomains: ['clinic.example'] };
const invitedRules = { admit: 'invited' as const, allowedEmailDomains: ['clinic.example'] };

const cases: [string, AdmissionInput, Admission][] = [
  ['linked identity signs in', { identity, rules: invitedRules, linked: { id: '7', disabled: false }, sameEmail: null }, { outcome: 'existing', userId: '7' }],
  ['linked but disabled', { identity, rules: domainRules, linked: { id: '7', disabled: true }, sameEmail: null }, { outcome: 'refused', reason: 'disabled' }],
  ['linked wins over e-mail (unverified e-mail irrelevant)', { identity: { ...identity, emailVerified: false }, rules: invitedRules, linked: { id: '7', disabled: false }, sameEmail: { id: '8', disabled: false, hasIdentityAtIssuer: false } }, { outcome: 'existing', userId: '7' }],
  ['invited: same e-mail, no identity at this issuer -> link', { identity, rules: invitedRules, linked: null, sameEmail: { id: '8', disabled: false, hasIdentityAtIssuer: false } }, { outcome: 'link', userId: '8' }],
  ['invited but e-mail unverified', { identity: { ...identity, emailVerified: false }, rules: invitedRules, linked: null, sameEmail: { id: '8', disabled: false, hasIdentityAtIssuer: false } }, { outcome: 'refused', reason: 'not_admitted' }],
  ['invited but already linked to another subject at this issuer', { identity, rules: invitedRules, linked: null, sameEmail: { id: '8', disabled: false, hasIdentityAtIssuer: true } }, { outcome: 'refused', reason: 'not_admitted' }],
  ['invited but disabled', { identity, rules: invitedRules, linked: null, sameEmail: { id: '8', disabled: true, hasIdentityAtIssuer: false } }, { outcome: 'refused', reason: 'disabled' }],
  ['not invited, invite-only clinic, even in an allowed domain', { identity, rules: invitedRules, linked: null, sameEmail: null }, { outcome: 'refused', reason: 'not_admitted' }],
  ['domain clinic, allowed domain (case-insensitive) -> create', { identity, rules: domainRules, linked: null, sameEmail: null }, { outcome: 'create', email: 'jane@clinic.example' }],
  ['domain clinic, other domain', { identity: { ...identity, email: 'jane@gmail.example' }, rules: domainRules, linked: null, sameEmail: null }, { outcome: 'refused', reason: 'not_admitted' }],
  ['domain clinic, subdomain is not the domain', { identity: { ...identity, email: 'jane@evil.clinic.example' }, rules: domainRules, linked: null, sameEmail: null }, { outcome: 'refused', reason: 'not_admitted' }],
  ['domain clinic, look-alike suffix', { identity: { ...identity, email: 'jane@notclinic.example' }, rules: domainRules, linked: null, sameEmail: null }, { outcome: 'refused', reason: 'not_admitted' }],
  ['domain clinic, unverified e-mail', { identity: { ...identity, emailVerified: false }, rules: domainRules, linked: null, sameEmail: null }, { outcome: 'refused', reason: 'not_admitted' }],
  ['domain clinic, no e-mail', { identity: { ...identity, email: null }, rules: domainRules, linked: null, sameEmail: null }, { outcome: 'refused', reason: 'not_admitted' }],
  ['domain clinic with no domains', { identity, rules: { admit: 'domain', allowedEmailDomains: [] }, linked: null, sameEmail: null }, { outcome: 'refused', reason: 'not_admitted' }],
];

t.test('decideAdmission', async (t) => {
  for (const [name, input, expected] of cases) t.same(decideAdmission(input), expected, name);
});

t.test('emailDomain / isDomainAllowed', async (t) => {
  const domains: [string, string | null][] = [
    ['a@b.example', 'b.example'],
    ['A@B.Example', 'b.example'],
    ['"x@y"@b.example', 'b.example'],
    ['nobody', null],
    ['@b.example', null],
    ['a@', null],
  ];
  for (const [email, domain] of domains) t.equal(emailDomain(email), domain, email);
  t.ok(isDomainAllowed('a@B.example', ['b.example']));
  t.notOk(isDomainAllowed('a@b.example.evil', ['b.example']));
  t.notOk(isDomainAllowed('a@b.example@evil.example', ['b.example']));
});
