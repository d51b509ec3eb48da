// Errors of sign-up. Field problems are not errors (the form is shown again with them); these
// are the pages a person can land on instead.
import { defineError } from '../infra/errors.ts';

export const signupErrors = {
  handoffInvalid: defineError(
    'signup_handoff_invalid',
    400,
    'This link has expired or was already used. Your clinic is set up: sign in the way you chose when you signed up.',
    { title: 'Link no longer valid' },
  ),
  /** A sign-up with a platform provider that could not finish after the provider answered. */
  providerSignupRefused: defineError('signup_refused', 409, (problems: string) => `Your clinic was not set up: ${problems}`, { title: 'Your clinic was not set up' }),
  failed: defineError('signup_failed', 503, 'Your clinic could not be set up just now, and nothing was kept. Try again in a moment.', {
    headers: { 'retry-after': '5' },
  }),
};
