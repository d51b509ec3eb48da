// The audit filters without HTTP: the schema's shapes, the checks a pattern cannot make, the field
// a validation error is about, and the query string the page's links carry.
import t from 'tap';
import { shapeOf } from '../../src/infra/schemas.ts';
import { AUDIT_ACTIONS, AuditFilterQuery, auditFilterFrom, filterQueryString, problemFromValidation } from '../../src/admin/audit-filters.ts';

const shape = shapeOf(AuditFilterQuery);

t.test('the schema: shapes accepted and refused, empty meaning any', async (t) => {
  const accepted = [
    {},
    { user: '', patient_id: '', action: '', from: '', to: '' },
    { user: '12', patient_id: '836447129235883061', action: 'view', from: '2026-01-01', to: '2026-12-31' },
    { after: '2026-01-01T23:59:59.123456Z_42' },
    ...AUDIT_ACTIONS.map((action) => ({ action })),
  ];
  for (const value of accepted) t.ok(shape.check(value), `accepted: ${JSON.stringify(value)}`);
  const refused: Array<[unknown, string]> = [
    [{ user: '0' }, 'user'],
    [{ user: '01' }, 'user'],
    [{ user: '12345678901234567890' }, 'user'],
    [{ action: 'drop' }, 'action'],
    [{ from: '2026-1-1' }, 'from'],
    [{ to: 'yesterday' }, 'to'],
    [{ after: '2026-01-01T24:00:00.000000Z_1' }, 'after'],
    [{ after: '2026-01-01T00:00:00.000Z_1' }, 'after'],
    [{ after: '2026-01-01T00:00:00.000000Z_0' }, 'after'],
    [{ patient_id: '1'.repeat(65) }, 'patient_id'],
  ];
  for (const [value, field] of refused) {
    t.notOk(shape.check(value), `refused: ${JSON.stringify(value)}`);
    t.equal(shape.problemField(value), field, `about ${field}`);
  }
});

t.test('the checks after the schema', async (t) => {
  const ok = auditFilterFrom({ user: '7', patient_id: '9223372036854775807', action: 'denied', from: '2024-02-29', to: '2024-03-01', after: '2024-03-01T10:00:00.000001Z_99' });
  t.same(ok, {
    ok: true,
    filter: { userId: '7', patientId: '9223372036854775807', action: 'denied', since: new Date('2024-02-29T00:00:00Z'), until: new Date('2024-03-02T00:00:00Z') },
    after: { occurredAt: '2024-03-01T10:00:00.000001Z', id: '99' },
  }, 'a leap day; the last day included; the cursor split');
  t.same(auditFilterFrom({ user: '', patient_id: '', action: '', from: '', to: '' }), { ok: true, filter: {}, after: null }, 'empty is any');
  t.same(auditFilterFrom({ from: '2026-05-05', to: '2026-05-05' }), { ok: true, filter: { since: new Date('2026-05-05T00:00:00Z'), until: new Date('2026-05-06T00:00:00Z') }, after: null }, 'one day');
  const problems: Array<[Parameters<typeof auditFilterFrom>[0], string, RegExp]> = [
    [{ patient_id: 'x1' }, 'patient_id', /^The patient ID must be digits only\.$/],
    [{ patient_id: '9223372036854775808' }, 'patient_id', /out of range/],
    [{ from: '2025-02-29' }, 'from', /not a day of the calendar/],
    [{ to: '2026-04-31' }, 'to', /not a day of the calendar/],
    [{ from: '2026-05-06', to: '2026-05-05' }, 'to', /before the first day/],
    [{ user: '9223372036854775808' }, 'user', /Choose a user/],
    [{ after: '2026-02-30T00:00:00.000000Z_1' }, 'after', /damaged/],
    [{ after: '2026-01-01T00:00:00.000000Z_9223372036854775808' }, 'after', /damaged/],
  ];
  for (const [input, field, message] of problems) {
    const result = auditFilterFrom(input);
    t.equal(result.ok, false, JSON.stringify(input));
    if (!result.ok) {
      t.equal(result.problem.field, field);
      t.match(result.problem.message, message);
    }
  }
});

t.test('the field of a validation error, and the links’ query strings', async (t) => {
  t.equal(problemFromValidation({ validation: [{ instancePath: '/from', params: {} }] }).field, 'from');
  t.equal(problemFromValidation({ validation: [{ instancePath: '/action/0', params: {} }] }).field, 'action');
  t.equal(problemFromValidation({ validation: [] }).field, 'after', 'unknown: the generic "start again" message');
  t.equal(filterQueryString({}), '');
  t.equal(filterQueryString({ user: '', action: 'view', from: '2026-01-01', after: '2026-01-01T00:00:00.000000Z_1' }), '?action=view&from=2026-01-01', 'empty fields and the cursor left out');
  t.equal(filterQueryString({ patient_id: '5' }, { after: 'c&d' }), '?patient_id=5&after=c%26d', 'encoded');
});
