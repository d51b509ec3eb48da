// What the patient button and notes can refuse, worded for clinic staff.
import { defineError } from '../infra/errors.ts';

export const patientErrors = {
  invalidPatientLink: defineError('invalid_patient_id', 400, (reason: string) => `This link does not name a Cliniko patient (${reason}). Open the patient from Cliniko again.`),
  invalidPatientId: defineError('invalid_patient_id', 400, (reason: string) => `This is not a Cliniko patient ID (${reason}).`),
  signInToAddNote: defineError('sign_in_required', 401, 'You are not signed in (or your session has ended). Sign in, open the patient again and add the note.'),
  patientNotHeld: defineError('patient_not_held', 404, 'Sidechart holds no record of this patient. Open the patient from Cliniko first, then add the note.'),
  auditUnavailable: defineError(
    'audit_unavailable',
    503,
    'Sidechart could not record this access in the audit trail, so the patient is not shown. Try again in a moment.',
    { headers: { 'retry-after': '5' } },
  ),
};
