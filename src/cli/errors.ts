// The CLI's own errors. `usage` (how the command was called) exits 2; every other failure exits 1.
import { defineError, httpErrors } from '../infra/errors.ts';

export const cliErrors = {
  usage: httpErrors.usage,
  noKey: defineError('no_key', 400, 'no API key on standard input'),
  invalidPassword: defineError('invalid_password', 400, (problem: string) => `${problem} (read from standard input)`),
  oidcCheckFailed: defineError('oidc_check_failed', 400, (detail: string) => `discovery failed, nothing saved: ${detail}`),
  unreadableFile: defineError('unreadable_file', 400, (file: string, reason: string) => `cannot read ${file} (${reason})`),
  bulkFailed: defineError('bulk_failed', 422, (failed: number) => `${failed} line(s) failed (see above)`),
  migrationFailed: defineError('migration_failed', 500, (failed: number) => `${failed} clinic(s) failed to migrate`),
};
