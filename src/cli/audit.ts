// `sidechart audit <tenant>`: who opened which patient, when, from where (the clinic's audit trail).
import type { Command } from 'commander';
import { cliErrors } from './errors.ts';
import { listAudit } from '../patients/audit.ts';
import { parsePatientId } from '../patients/patient-id.ts';
import { parseCalendarDate } from '../patients/view-model.ts';
import { clinicScope, report, type CliContext } from './context.ts';

const MAX_LIMIT = 10_000;

function parseSince(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  // ISO 8601 date or date-time only: Date.parse accepts much more, and guesses.
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) {
    throw cliErrors.usage(`--since must be an ISO date or date-time such as 2026-11-24 or 2026-11-24T09:00:00Z (got "${value}")`);
  }
  const at = new Date(value);
  // JavaScript rolls 30 February over into March; a typo should not silently move the window.
  if (Number.isNaN(at.getTime()) || parseCalendarDate(value.slice(0, 10)) === null) throw cliErrors.usage(`--since is not a real date: "${value}"`);
  return at;
}

function parseLimit(value: string | undefined): number {
  if (value === undefined) return 100;
  if (!/^[0-9]{1,6}$/.test(value) || Number(value) < 1 || Number(value) > MAX_LIMIT) {
    throw cliErrors.usage(`--limit must be a whole number from 1 to ${MAX_LIMIT} (got "${value}")`);
  }
  return Number(value);
}

export function registerAuditCommand(program: Command, context: CliContext): void {
  program
    .command('audit <tenant>')
    .description("a clinic's audit trail of patient access, newest first")
    .option('--patient <id>', 'only events about this Cliniko patient ID')
    .option('--since <iso-date>', 'only events at or after this date or time (UTC unless it says otherwise)')
    .option('--limit <n>', `at most this many events (default 100, at most ${MAX_LIMIT})`)
    .option('--json', 'print JSON')
    .action(async (slug: string, opts: { patient?: string; since?: string; limit?: string; json?: boolean }) => {
      let patientId: string | undefined;
      if (opts.patient !== undefined) {
        const parsed = parsePatientId({ patient_id: opts.patient });
        if (!parsed.ok) throw cliErrors.usage(`--patient: ${parsed.reason}`);
        patientId = parsed.id;
      }
      const since = parseSince(opts.since);
      const limit = parseLimit(opts.limit);
      const { db } = await clinicScope(context, slug);
      const events = await listAudit(db, {
        ...(patientId !== undefined ? { patientId } : {}),
        ...(since !== undefined ? { since } : {}),
        limit,
      });
      report(context.io, opts.json, events, () =>
        events.length === 0
          ? `no audit events for ${slug}${patientId ? ` and patient ${patientId}` : ''}${since ? ` since ${since.toISOString()}` : ''}`
          : [
              ['TIME', 'ACTION', 'OUTCOME', 'USER', 'PATIENT', 'CLIENT', 'FETCH-SITE', 'DETAIL'].join('\t'),
              ...events.map((e) =>
                [
                  e.occurred_at.toISOString(),
                  e.action,
                  e.outcome,
                  e.user_id === null ? '-' : `${e.user_id}${e.user_email ? ` ${e.user_email}` : ''}`,
                  e.patient_id ?? '-',
                  e.client_ip ?? '-',
                  e.sec_fetch_site ?? '-',
                  e.detail ?? '',
                ].join('\t'),
              ),
              `${events.length} event(s)`,
            ].join('\n'),
      );
    });
}
