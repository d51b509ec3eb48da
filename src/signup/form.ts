// The sign-up form, pure: what the user typed, what is wrong with it field by field, and the
// address suggested from the clinic's name. Availability and regions need the database and are
// checked by the service (service.ts); everything here is decided from the input alone.
import { checkSlug, isSlugShaped, RESERVED_LABELS } from '../tenancy/host.ts';
import { normalizeEmail, EMAIL_MAX_LENGTH } from '../auth/users.ts';
import { checkNewPassword, PASSWORD_MAX_LENGTH } from '../auth/password/hasher.ts';

export const CLINIC_NAME_MAX_LENGTH = 200;
export const ADMIN_NAME_MAX_LENGTH = 200;
export const SLUG_MAX_LENGTH = 63;

export type SignupField = 'clinicName' | 'slug' | 'region' | 'adminName' | 'email' | 'password';

/** What the user typed (the password is never echoed back into the page). */
export interface SignupInput {
  clinicName: string;
  slug: string;
  region: string;
  adminName: string;
  email: string;
  password: string;
}

export type FieldErrors = Partial<Record<SignupField, string>>;

/** The clinic part of a valid form, normalised: the slug lowercased, names trimmed. */
export interface ValidClinicForm {
  clinicName: string;
  slug: string;
  regionId: string;
  adminName: string;
}

/** A valid form for an admin who signs in with a password: the e-mail normalised too. */
export interface ValidSignup extends ValidClinicForm {
  email: string;
  password: string;
}

/**
 * An address made from the clinic's name: lowercase ASCII letters and digits, everything else a
 * single dash, accents dropped ("Physio Café & Co." -> "physio-cafe-co"). Empty when nothing usable
 * is left; a reserved or IDNA-looking result gets "-clinic" so it is still a usable suggestion.
 */
export function suggestSlug(clinicName: string): string {
  let slug = clinicName
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, SLUG_MAX_LENGTH)
    .replace(/-+$/, '');
  if (slug === '') return '';
  if (slug.slice(2, 4) === '--') slug = slug.replace(/-{2,}/g, '-');
  if (RESERVED_LABELS.has(slug) || !isSlugShaped(slug)) slug = `${slug.slice(0, SLUG_MAX_LENGTH - 7).replace(/-+$/, '')}-clinic`;
  return isSlugShaped(slug) && !RESERVED_LABELS.has(slug) ? slug : '';
}

/** Why this address cannot be used, as a person reads it next to the field; null when it can. */
export function slugProblem(slug: string): string | null {
  if (slug === '') return 'Choose an address for your clinic.';
  const check = checkSlug(slug);
  if (check.ok) return null;
  if (RESERVED_LABELS.has(slug)) return `"${slug}" is reserved for Sidechart itself. Choose another address.`;
  if (slug.length > SLUG_MAX_LENGTH) return `An address has at most ${SLUG_MAX_LENGTH} characters.`;
  if (slug.slice(2, 4) === '--') return 'An address cannot have two dashes in its third and fourth characters (that form is kept for international names).';
  return 'Use only lowercase letters a-z, digits and dashes, not starting or ending with a dash.';
}

/** Checks every field at once, so the page can say everything that needs fixing. */
export function validateSignup(input: SignupInput, openRegions: readonly string[]): { ok: true; value: ValidSignup } | { ok: false; errors: FieldErrors } {
  const clinic = validateClinicForm(input, openRegions);
  const errors: FieldErrors = clinic.ok ? {} : { ...clinic.errors };
  const email = normalizeEmail(input.email);
  if (input.email.trim() === '') errors.email = 'Enter your e-mail address.';
  else if (email === null) errors.email = `Enter an e-mail address like name@example.com (at most ${EMAIL_MAX_LENGTH} characters).`;

  const passwordError = checkNewPassword(input.password);
  if (passwordError !== null) errors.password = `Choose another password: ${passwordError}.`;

  if (!clinic.ok || Object.keys(errors).length > 0 || email === null) return { ok: false, errors };
  return { ok: true, value: { ...clinic.value, email, password: input.password } };
}

/**
 * The fields of the form but the admin's e-mail and password: all a sign-up with a platform
 * provider needs (the provider says who the admin is).
 */
export function validateClinicForm(input: Omit<SignupInput, 'email' | 'password'>, openRegions: readonly string[]): { ok: true; value: ValidClinicForm } | { ok: false; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const clinicName = input.clinicName.trim();
  if (clinicName === '') errors.clinicName = "Enter your clinic's name.";
  else if (clinicName.length > CLINIC_NAME_MAX_LENGTH) errors.clinicName = `A clinic name has at most ${CLINIC_NAME_MAX_LENGTH} characters.`;
  else if (/\p{Cc}/u.test(clinicName)) errors.clinicName = 'A clinic name cannot contain control characters.';

  const slug = input.slug.trim().toLowerCase();
  const slugError = slugProblem(slug);
  if (slugError !== null) errors.slug = slugError;

  if (!openRegions.includes(input.region)) {
    errors.region = input.region === '' ? 'Choose where your clinic\'s data will live.' : 'That region does not accept new clinics. Choose one of the regions listed.';
  }

  const adminName = input.adminName.trim();
  if (adminName === '') errors.adminName = 'Enter your name.';
  else if (adminName.length > ADMIN_NAME_MAX_LENGTH) errors.adminName = `A name has at most ${ADMIN_NAME_MAX_LENGTH} characters.`;
  else if (/\p{Cc}/u.test(adminName)) errors.adminName = 'A name cannot contain control characters.';

  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, value: { clinicName, slug, regionId: input.region, adminName } };
}

export { PASSWORD_MAX_LENGTH, EMAIL_MAX_LENGTH };
