// Pure pieces of the patient page and its records, table-driven: ages and dates, custom field
// values, merge links, the columns stored from a Cliniko record, note validation.
import t from 'tap';
import type { ClinikoPatient } from '../../src/cliniko/types.ts';
import { checkNoteText } from '../../src/patients/notes.ts';
import { mergedIntoId, patientColumns, type PatientRow } from '../../src/patients/sync.ts';
import {
  ageOn,
  dateIn,
  displayValue,
  displayZone,
  formatInstant,
  isKnownTimeZone,
  parseCalendarDate,
  patientPageModel,
  syncBanner,
  MAX_CACHED_ZONES,
  cachedZoneCount,
} from '../../src/patients/view-model.ts';

t.test('parseCalendarDate accepts real YYYY-MM-DD dates only', async (t) => {
  const cases: Array<[unknown, ReturnType<typeof parseCalendarDate>]> = [
    ['1987-03-14', { year: 1987, month: 3, day: 14 }],
    ['2000-02-29', { year: 2000, month: 2, day: 29 }],
    ['1900-02-29', null],
    ['2023-02-29', null],
    ['2026-02-30', null],
    ['2026-13-01', null],
    ['2026-00-10', null],
    ['2026-04-31', null],
    ['1987-3-14', null],
    ['14/03/1987', null],
    ['1987-03-14T00:00:00Z', null],
    ['', null],
    [null, null],
    [19870314, null],
  ];
  for (const [input, expected] of cases) t.same(parseCalendarDate(input), expected, String(input));
});

t.test('ageOn counts whole years; 29 February birthdays arrive on 1 March in common years', async (t) => {
  const d = (s: string) => parseCalendarDate(s)!;
  const cases: Array<[string, string, number | null]> = [
    ['1987-03-14', '2026-03-13', 38],
    ['1987-03-14', '2026-03-14', 39],
    ['1987-03-14', '2026-12-31', 39],
    ['2000-02-29', '2025-02-28', 24],
    ['2000-02-29', '2025-03-01', 25],
    ['2000-02-29', '2028-02-29', 28],
    ['2026-11-24', '2026-11-24', 0],
    ['2026-11-25', '2026-11-24', null],
    ['1926-01-01', '2026-01-01', 100],
  ];
  for (const [birth, today, age] of cases) t.equal(ageOn(d(birth), d(today)), age, `${birth} on ${today}`);
});

t.test("dateIn gives the calendar date in the zone: the clinic's today, not UTC's", async (t) => {
  const instant = new Date('2026-03-13T14:30:00Z'); // already the 14th in Melbourne (UTC+11)
  t.same(dateIn('UTC', instant), { year: 2026, month: 3, day: 13 });
  t.same(dateIn('Australia/Melbourne', instant), { year: 2026, month: 3, day: 14 });
  t.same(dateIn('America/Los_Angeles', instant), { year: 2026, month: 3, day: 13 });
  const birth = parseCalendarDate('1987-03-14')!;
  t.equal(ageOn(birth, dateIn('Australia/Melbourne', instant)), 39, 'birthday already in Melbourne');
  t.equal(ageOn(birth, dateIn('UTC', instant)), 38, 'not yet in UTC');
});

t.test('the zone formatter cache stays bounded whatever zones the records name', async (t) => {
  // Intl accepts zone names in any letter case, so records can name far more distinct zones than exist.
  const zones = Intl.supportedValuesOf('timeZone');
  let accepted = 0;
  for (let i = 0; accepted < MAX_CACHED_ZONES * 3; i++) {
    const zone = zones[i % zones.length]!;
    const variant = i < zones.length ? zone : [...zone].map((c, k) => ((i >> (k % 8)) & 1 ? c.toUpperCase() : c.toLowerCase())).join('');
    if (isKnownTimeZone(variant)) accepted++;
  }
  t.ok(accepted >= MAX_CACHED_ZONES * 3);
  t.equal(cachedZoneCount(), MAX_CACHED_ZONES, 'at most MAX_CACHED_ZONES formatters are kept');
});

t.test('time zones and instants', async (t) => {
  for (const zone of ['UTC', 'Australia/Melbourne', 'Europe/London']) t.ok(isKnownTimeZone(zone), zone);
  for (const zone of ['Melbourne', 'Not/AZone', '', '<script>', null, 42]) t.notOk(isKnownTimeZone(zone), String(zone));
  t.equal(displayZone({ id: '1', time_zone: 'Australia/Melbourne' }), 'Australia/Melbourne');
  t.equal(displayZone({ id: '1', time_zone: 'Melbourne' }), 'UTC', 'Rails-style names fall back to UTC');
  t.equal(formatInstant(new Date('2026-11-24T18:09:00Z'), 'UTC'), '24 Nov 2026, 18:09 (UTC)');
  t.equal(formatInstant(new Date('2026-11-24T18:09:00Z'), 'Australia/Melbourne'), '25 Nov 2026, 05:09 (Australia/Melbourne)');
});

t.test('displayValue prints custom field values of every shape', async (t) => {
  const cases: Array<[unknown, string]> = [
    ['text', 'text'],
    [42, '42'],
    [true, 'true'],
    [null, ''],
    [undefined, ''],
    [['a', 'b', ''], 'a, b'],
    [[{ name: 'Yes', selected: true }, { name: 'No', selected: false }], 'Yes'],
    [{ value: 'inner' }, 'inner'],
    [{ other: 1 }, '{"other":1}'],
  ];
  for (const [value, expected] of cases) t.equal(displayValue(value), expected, JSON.stringify(value) ?? 'undefined');
});

t.test('mergedIntoId takes only a valid ID from the survivor link', async (t) => {
  const merged = (self: unknown): ClinikoPatient => ({ id: '5', merged_with_patient: { links: { self: self as string } } });
  const cases: Array<[ClinikoPatient, string | null]> = [
    [merged('https://api.au1.cliniko.com/v1/patients/836447129235883081'), '836447129235883081'],
    [merged('https://api.au1.cliniko.com/v1/patients/9223372036854775807/'), '9223372036854775807'],
    [merged('https://evil.example/v1/patients/77'), '77'],
    [merged('https://api.au1.cliniko.com/v1/patients/9223372036854775808'), null],
    [merged('https://api.au1.cliniko.com/v1/patients/5'), null],
    [merged('https://api.au1.cliniko.com/v1/users/77'), null],
    [merged('not a url'), null],
    [merged(42), null],
    [{ id: '5', merged_with_patient: null }, null],
    [{ id: '5' }, null],
  ];
  for (const [record, expected] of cases) t.equal(mergedIntoId(record), expected, JSON.stringify(record.merged_with_patient));
});

t.test('patientColumns reads the page columns from a Cliniko record', async (t) => {
  t.same(
    patientColumns({
      id: '1',
      first_name: 'Aroha',
      last_name: "Ngata-O'Brien",
      preferred_first_name: 'Ro',
      date_of_birth: '1987-03-14',
      archived_at: '2023-08-01T06:12:00Z',
      deleted_at: '',
      merged_at: null,
      updated_at: 'garbage',
    }),
    {
      first_name: 'Aroha',
      last_name: "Ngata-O'Brien",
      preferred_first_name: 'Ro',
      date_of_birth: '1987-03-14',
      archived_at: new Date('2023-08-01T06:12:00Z'),
      deleted_at: null,
      merged_at: null,
      merged_into_id: null,
      cliniko_updated_at: null,
    },
  );
  t.same(patientColumns({ id: '1', first_name: null, preferred_first_name: '  ', date_of_birth: '14/03/1987' }), {
    first_name: '',
    last_name: '',
    preferred_first_name: null,
    date_of_birth: null,
    archived_at: null,
    deleted_at: null,
    merged_at: null,
    merged_into_id: null,
    cliniko_updated_at: null,
  });
});

t.test('checkNoteText: trimmed, 1 to 5000 characters', async (t) => {
  const cases: Array<[unknown, ReturnType<typeof checkNoteText>]> = [
    ['  hello  ', { ok: true, text: 'hello' }],
    ['a\r\nb\rc', { ok: true, text: 'a\nb\nc' }],
    ['x'.repeat(5000), { ok: true, text: 'x'.repeat(5000) }],
    ['😀'.repeat(5000), { ok: true, text: '😀'.repeat(5000) }],
    [` ${'x'.repeat(5000)} `, { ok: true, text: 'x'.repeat(5000) }],
    ['x'.repeat(5001), { ok: false, reason: 'The note is 5001 characters long; the limit is 5000.' }],
    ['', { ok: false, reason: 'The note is empty. Write something before saving.' }],
    [' \n\t ', { ok: false, reason: 'The note is empty. Write something before saving.' }],
    ['a\u0000b', { ok: false, reason: 'The note contains a character that cannot be stored.' }],
    [undefined, { ok: false, reason: 'The note is missing.' }],
    [['a'], { ok: false, reason: 'The note is missing.' }],
  ];
  for (const [input, expected] of cases) t.same(checkNoteText(input), expected, JSON.stringify(input)?.slice(0, 40) ?? 'undefined');
});

t.test('the page model and banners', async (t) => {
  const row: PatientRow = {
    cliniko_id: '836447129235883061',
    first_name: 'Aroha',
    last_name: "Ngata-O'Brien",
    data: {
      id: '836447129235883061',
      first_name: 'Aroha',
      last_name: "Ngata-O'Brien",
      date_of_birth: '1987-03-14',
      time_zone: 'Australia/Melbourne',
      patient_phone_numbers: [{ number: '0412 345 678', phone_type: 'Mobile' }, { number: '', phone_type: 'Home' }, { number: '1', phone_type: null }],
      address_1: 'Unit 4',
      city: 'Fitzroy',
      state: 'VIC',
      post_code: '3065',
      pronouns: { accusative: 'her', nominative: 'she' },
      custom_fields: { sections: [{ name: 'Old', archived: true, fields: [{ name: 'x', type: 'text', value: 'y' }] }, { name: 'Intake', fields: [{ name: 'Concern', type: 'text', value: 'Shoulder' }] }] },
    },
    fetched_at: new Date('2026-03-13T14:30:00Z'),
    created_at: new Date(),
    updated_at: new Date(),
    preferred_first_name: null,
    date_of_birth: '1987-03-14',
    archived_at: null,
    deleted_at: null,
    merged_at: null,
    merged_into_id: null,
    cliniko_updated_at: null,
    sync_attempted_at: null,
    sync_error: null,
    sync_error_message: null,
  };
  const model = patientPageModel(row, new Date('2026-03-13T14:30:00Z'));
  t.equal(model.fullName, "Aroha Ngata-O'Brien");
  t.equal(model.dateOfBirth, '14 Mar 1987');
  t.equal(model.age, 39, "age on Melbourne's date");
  t.same(model.phones, [{ type: 'Mobile', number: '0412 345 678' }, { type: 'Phone', number: '1' }]);
  t.same(model.address, ['Unit 4', 'Fitzroy VIC 3065']);
  t.equal(model.pronouns, 'her, she');
  t.same(model.customSections, [{ name: 'Intake', fields: [{ name: 'Concern', value: 'Shoulder' }] }], 'archived sections are left out');
  t.equal(model.lastSynced, '14 Mar 2026, 01:30 (Australia/Melbourne)');

  t.equal(syncBanner({ state: 'fresh' }), null);
  t.equal(syncBanner({ state: 'fetched' }), null);
  t.match(syncBanner({ state: 'refreshing' }), { tone: 'info' });
  t.match(syncBanner({ state: 'not_connected' })?.text, /not connected/);
  t.match(syncBanner({ state: 'refresh_failed', kind: 'rate_limited' })?.text, /Could not refresh from Cliniko: Cliniko is limiting requests/);
});
