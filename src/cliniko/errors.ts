// What connecting a clinic to Cliniko can refuse, worded for the admin who pasted the key (never
// containing it). Failures of individual API calls are ClinikoErrors (client/), mapped here when a
// person has to act on them.
import { defineError } from '../infra/errors.ts';

export const connectionErrors = {
  invalidApiKey: defineError('invalid_api_key', 422, (reason: string) => reason),
  keyRefused: defineError(
    'cliniko_key_refused',
    422,
    (host: string, shard: string) =>
      `Cliniko refused this API key at ${host} (shard ${shard}, from the key's suffix). Either the key is wrong or revoked, ` +
      'or it belongs to another shard: Cliniko answers both the same way. Copy the whole key again, including its suffix.',
  ),
  keyForbidden: defineError('cliniko_key_forbidden', 422, (message: string) => `${message} Sidechart needs to read the account settings and patients.`),
  rateLimited: defineError('cliniko_rate_limited', 429, (message: string) => message),
  unexpected: defineError('cliniko_unexpected', 502, (host: string) => `Cliniko at ${host} did not recognise the request (HTTP 404). Check CLINIKO_API_BASE.`),
  unavailable: defineError('cliniko_unavailable', 502, (host: string, message: string) => `Could not verify the key with Cliniko at ${host}: ${message}`),
  timeout: defineError('cliniko_timeout', 502, (host: string, message: string) => `Could not verify the key with Cliniko at ${host}: ${message}`),
  badResponse: defineError('cliniko_bad_response', 502, (host: string, message: string) => `Could not verify the key with Cliniko at ${host}: ${message}`),
};
