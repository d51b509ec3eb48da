// The admin area's sections (the index and every admin page's navigation list them, in this
// order) and the one way an admin page is sent: with the clinic's name and that navigation.
import type { FastifyReply } from 'fastify';
import { sendPage } from '../infra/html.ts';
import { requireClinic } from '../tenancy/plugin.ts';

export const ADMIN_SECTIONS = [
  { id: 'button', href: '/admin/button', label: 'The button', summary: 'The URL to paste into Cliniko, and the steps there.' },
  { id: 'cliniko', href: '/admin/cliniko', label: 'Cliniko', summary: 'Connect or replace the API key; the connected account and shard.' },
  { id: 'sign-in', href: '/admin/sign-in', label: 'Sign-in', summary: 'Passwords, sign-in services, the clinic’s own provider, who is admitted.' },
  { id: 'staff', href: '/admin/staff', label: 'Staff', summary: 'Invite people, change roles, disable or remove accounts.' },
  { id: 'audit', href: '/admin/audit', label: 'Audit', summary: 'Who opened which patient, when and from where; CSV export.' },
] as const;

export type AdminSectionId = (typeof ADMIN_SECTIONS)[number]['id'];

/** Sends `admin/views/<template>` for the section (null: the index). */
export function sendAdminPage(reply: FastifyReply, template: string, section: AdminSectionId | null, data: { title: string } & Record<string, unknown>, statusCode = 200): FastifyReply {
  const { tenant } = requireClinic(reply.request);
  return sendPage(reply, `admin/views/${template}`, { ...data, clinicName: tenant.displayName, section, sections: ADMIN_SECTIONS }, statusCode);
}
