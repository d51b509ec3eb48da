// Errors of sign-up. Field problems are not errors (the form is shown again with them); these
// are the pages a person can land on instead.
import { defineError } from '../infra/errors.ts';

export const signupErrors = {
  handoffInvalid: defineError(
    'signup_handoff_invalid',
    400,
    'This link has expired or was already used. Your clinic is set up: sign in with the e-mail and password you chose.',
    { title: 'Link no longer valid' },
  ),
  failed: defineError('signup_failed', 503, 'Your clinic could not be set up just now, and nothing was kept. Try again in a moment.', {
    headers: { 'retry-after': '5' },
  }),
};
