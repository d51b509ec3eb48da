// Errors of the tenancy spine: what a host, a clinic's status or the control plane can refuse.
import { defineError } from '../infra/errors.ts';

const RETRY_AFTER = { 'retry-after': '5' };

const READ_ONLY_WORDS = {
  change: 'This clinic is read-only while it is being moved, so nothing was saved. Changes will be possible again in a few minutes: please try again then.',
  'sign-in': 'Signing in is paused while this clinic is being moved (it is read-only for a few minutes), so nothing was saved. Please try again in a few minutes; staff who are already signed in can still open patients.',
  'new-patient': 'This patient has not been opened in Sidechart before, and fetching a patient from Cliniko is paused while this clinic is being moved (it is read-only for a few minutes). Patients opened before can still be seen; please open this one again in a few minutes.',
  'sign-out': 'Signing out is paused while this clinic is being moved: you are still signed in, because ending your session now would be undone by the move. Please sign out again in a few minutes.',
} as const;

/** What a read-only clinic refused: any change, or a step of signing in or out (each has its words). */
export type ReadOnlyRefusal = keyof typeof READ_ONLY_WORDS;

export const tenancyErrors = {
  invalidHost: defineError('invalid_host', 400, 'This address is not a Sidechart address.'),
  noClinic: defineError('no_clinic', 404, 'There is no clinic at this address. Check the link, or ask your clinic for its Sidechart address.'),
  clinicSuspended: defineError('clinic_suspended', 403, (name: string) => `${name} is suspended on Sidechart. Ask your clinic administrator.`),
  clinicProvisioning: defineError('clinic_provisioning', 503, 'This clinic is being set up. Try again in a moment.', { headers: RETRY_AFTER }),
  directoryUnavailable: defineError('directory_unavailable', 503, 'Sidechart cannot reach its database right now. Try again in a moment.', { headers: RETRY_AFTER }),
  regionUnavailable: defineError('region_unavailable', 503, 'This clinic is temporarily unavailable.', { headers: { 'retry-after': '60' } }),
  /**
   * The clinic lives in another region than this instance serves (REGION): its request is
   * forwarded there (forward.ts); this page only when it cannot be (no address for that region,
   * or the request was already forwarded once).
   */
  otherRegion: defineError('clinic_in_other_region', 421, 'This clinic is served from another region, and this request reached the wrong one. Try again in a moment; if it keeps happening, tell Sidechart support.'),
  /** Forwarding to the clinic's region failed: that region's servers did not answer. */
  regionUnreachable: defineError('region_unreachable', 503, 'This clinic\'s region is not answering at the moment. Try again in a minute.', { headers: { 'retry-after': '30' } }),
  /** A clinic that is read-only (moving between regions, read-only.ts) refused a change; what it was, in words. */
  clinicReadOnly: defineError('clinic_read_only', 503, (refused: ReadOnlyRefusal) => READ_ONLY_WORDS[refused], {
    headers: { 'retry-after': '60' },
    title: 'This clinic is read-only for a few minutes',
  }),
  readOnlyReasonTooLong: defineError('invalid_reason', 400, (max: number) => `the reason is longer than ${max} characters`),
  // Operator-facing (CLI, provisioning): the messages name the clinic by its slug.
  clinicDeleted: defineError('no_clinic', 404, (slug: string) => `clinic "${slug}" is deleted`),
  clinicNotActive: defineError('tenant_not_active', 409, (slug: string, status: string, why: string) => `clinic "${slug}" is ${status}; ${why}`),
  regionNotConfigured: defineError('region_unavailable', 503, (slug: string, region: string) => `clinic "${slug}" is in region "${region}", which this configuration has no database for`),
  tenantNotFound: defineError('tenant_not_found', 404, (slug: string) => `no clinic "${slug}"`),
  tenantExists: defineError('tenant_exists', 409, (slug: string) => `the address "${slug}" is already taken`),
  invalidSlug: defineError('invalid_slug', 400, (slug: string, reason: string) => `cannot use "${slug}": ${reason}`),
  invalidName: defineError('invalid_name', 400, 'the clinic name is longer than 200 characters'),
  unknownRegion: defineError('unknown_region', 400, (region: string) => `no region "${region}" (see: sidechart regions list)`),
  regionNotHere: defineError('unknown_region', 400, (region: string) => `region "${region}" is not configured here`),
  noSuchRegion: defineError('unknown_region', 404, (region: string) => `no region "${region}"`),
  moveUnderWay: defineError('move_under_way', 409, (slug: string, from: string, to: string, phase: string) => `a move of "${slug}" from ${from} to ${to} is under way (last step done: ${phase}): run \`sidechart tenants move ${slug} --resume\` or \`--rollback\``),
  noMoveUnderWay: defineError('no_move', 409, (slug: string) => `no move of "${slug}" is under way`),
  moveSwitched: defineError('move_switched', 409, (slug: string, to: string) => `the move of "${slug}" has already switched to ${to}: it can only be finished (\`sidechart tenants move ${slug} --resume\`); move it back afterwards if needed`),
  alreadyInRegion: defineError('already_in_region', 409, (slug: string, region: string) => `clinic "${slug}" is already in region ${region}`),
  moveNeedsMigration: defineError('move_needs_migration', 409, (slug: string, version: string, latest: string) => `clinic "${slug}" is at ${version}, not the latest ${latest}: run \`sidechart migrate\` first`),
  regionNotConfiguredForAdd: defineError('unknown_region', 400, (region: string) => `region "${region}" has no connection details: add a line "${region}=postgres://…" to the regions file (SIDECHART_REGIONS_FILE) or SIDECHART_REGIONS first`),
  regionNotAnswering: defineError('region_unavailable', 503, (region: string) => `region "${region}"'s database does not answer; nothing was recorded`),
  regionCannotCreate: defineError('region_unavailable', 400, (region: string) => `region "${region}"'s database user cannot create schemas there (CREATE on the database); nothing was recorded`),
  regionClosed: defineError('region_closed', 409, (region: string) => `region "${region}" is not accepting new clinics`),
  wrongStatus: defineError('tenant_wrong_status', 409, (slug: string, status: string, needed: string) => `clinic "${slug}" is ${status}; this needs it to be ${needed}`),
  changed: defineError('tenant_changed', 409, (slug: string) => `clinic "${slug}" changed while updating; try again`),
  notDeleted: defineError('tenant_not_deleted', 409, (slug: string, status: string) => `clinic "${slug}" is ${status}; delete it first`),
  gracePeriod: defineError('grace_period', 409, (slug: string, after: string) => `clinic "${slug}" can be purged after ${after} (or pass --force)`),
  // Copying a clinic's rows (snapshot.ts) and its archives (archive.ts).
  copyVersionMismatch: defineError('copy_version_mismatch', 409, (source: string, target: string) => `cannot copy rows: the source schema is at ${source} and the target at ${target}; they must be at the same migration version`),
  copyTablesDiffer: defineError('copy_tables_differ', 409, (detail: string) => `cannot copy rows: the source and target schemas do not have the same tables (${detail})`),
  copyTargetNotEmpty: defineError('copy_target_not_empty', 409, (schema: string, table: string) => `cannot copy rows: table "${table}" of the target schema ${schema} already has rows`),
  copyMismatch: defineError('copy_mismatch', 500, (table: string, detail: string) => `the copied rows differ from the source in table "${table}" (${detail}); nothing was kept`),
  archiveExists: defineError('archive_exists', 409, (file: string) => `${file} already exists; choose another file name (an export never overwrites one)`),
  archiveUnreadable: defineError('archive_unreadable', 400, (file: string, reason: string) => `cannot read the clinic archive ${file}: ${reason}; nothing was imported`),
  archiveUnsupported: defineError('archive_unsupported', 400, (file: string, reason: string) => `cannot import ${file}: ${reason}; nothing was imported`),
  archiveRowsRefused: defineError('archive_rows_refused', 400, (table: string, reason: string) => `the archive's rows for table "${table}" were refused by the database (${reason}); nothing was imported`),
  archiveMismatch: defineError('archive_mismatch', 400, (table: string, detail: string) => `the imported rows of table "${table}" do not match the archive's manifest (${detail}); nothing was imported`),
  archiveSecretsUnreadable: defineError('archive_secrets_unreadable', 400, (what: string) => `the archive's ${what} cannot be opened with this deployment's encryption keys (SIDECHART_ENCRYPTION_KEYS): restore it into a deployment holding the keys it was sealed with; nothing was imported`),
  clinicNotExportable: defineError('tenant_wrong_status', 409, (slug: string, status: string) => `clinic "${slug}" is ${status}; only a clinic whose schema is complete (active or suspended) can be exported`),
};
