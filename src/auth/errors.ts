// Errors of signing in and of users (single sign-on has its own catalogue: sso/errors.ts).
import { defineError } from '../infra/errors.ts';

export const authErrors = {
  signInRequired: defineError('sign_in_required', 401, 'You are not signed in (or your session has ended). Sign in and try again.'),
  adminOnly: defineError('admin_only', 403, 'Only clinic administrators can open this page.'),
  accountDisabled: defineError('account_disabled', 403, 'This account is disabled. Ask your clinic administrator to enable it.'),
  passwordSignInDisabled: defineError('password_sign_in_disabled', 403, (clinic: string) => `${clinic} does not use passwords. Use another way to sign in on the sign-in page.`),
  crossSiteRequest: defineError('cross_site_request', 403, 'This request came from another site and was refused.'),
  csrfUnavailable: defineError('csrf_unavailable', 403, 'This request cannot be accepted at this address.'),
  csrfExpired: defineError('csrf_expired', 403, 'This form has expired. Go back, reload the page and try again.'),
  csrfMissing: defineError('csrf_missing', 403, 'This form is missing its security token. Reload the page and try again.'),
  invalidEmail: defineError('invalid_email', 400, (email: string) => `"${email}" is not an e-mail address`),
  invalidName: defineError('invalid_name', 400, 'the name is longer than 200 characters'),
  userExists: defineError('user_exists', 409, (email: string) => `a user with the e-mail ${email} already exists`),
  userNotFound: defineError('user_not_found', 404, (email: string) => `no user with the e-mail ${email}`),
  invalidSsoSettings: defineError('invalid_sso_settings', 422, (message: string) => message),
};
