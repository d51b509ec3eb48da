// The imitation of Cliniko's patient screen, whose custom button opens Sidechart as it would from
// real Cliniko. A page of its own rather than the app's layout: it stands in for another site.
import { render } from '../../infra/html.ts';
import type { ClinikoPatient } from '../types.ts';
import { isSet, type Account, type StoredPatient } from './records.ts';

/** The page runs no script and loads nothing: its styles are inline and it only links out. */
export const PATIENT_SCREEN_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

export interface PatientScreenInput {
  accounts: Iterable<Account>;
  /** `?patient=` of the request; the first patient when absent or unknown. */
  selectedId: string | undefined;
  /** The custom button's target; `?patient_id=<id>` is appended. */
  buttonUrl: string;
}

/** The whole HTML document; every value is escaped by Eta. */
export function renderPatientScreen(input: PatientScreenInput): string {
  const patients = [...input.accounts].flatMap((account) =>
    [...account.patients.values()].filter((p) => !isSet(p.data.deleted_at)).map((p) => ({ account, stored: p })),
  );
  const selected = patients.find((p) => p.stored.data.id === input.selectedId) ?? patients[0];
  const view = selected === undefined ? null : screenView(selected.account, selected.stored, input.buttonUrl);
  const list = patients.map(({ stored }) => ({ id: stored.data.id, name: displayName(stored.data), current: stored === selected?.stored }));
  return render('cliniko/simulator/views/patient-screen', { patients: list, view });
}

function screenView(account: Account, stored: StoredPatient, buttonUrl: string) {
  const p = stored.data;
  const button = new URL(buttonUrl);
  button.searchParams.set('patient_id', p.id);
  return {
    clinic: account.name,
    id: p.id,
    name: displayName(p),
    preferred: p.preferred_first_name ?? '',
    dateOfBirth: p.date_of_birth ?? '',
    email: p.email ?? '',
    phones: (p.patient_phone_numbers ?? []).map((n) => `${n.phone_type ?? 'Phone'}: ${n.number}`),
    archived: isSet(p.archived_at),
    mergedInto: stored.mergedIntoId ?? null,
    buttonHref: button.href,
  };
}

function displayName(patient: ClinikoPatient): string {
  const name = [patient.first_name, patient.last_name].filter((part) => isSet(part)).join(' ');
  return name === '' ? `Patient ${patient.id}` : name;
}
