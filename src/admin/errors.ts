// Errors of the admin area.
import { defineError } from '../infra/errors.ts';

export const adminErrors = {
  /** A filter of the audit trail (page or CSV) is not one: the message says which and why. */
  invalidAuditFilter: defineError('invalid_audit_filter', 400, (field: string, message: string) => `${field}: ${message}`, { title: 'Check the filter' }),
};
