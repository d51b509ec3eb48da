// Outgoing e-mail through the operator's SMTP relay (nodemailer), or none at all: without
// SMTP_HOST the mailer says it is not configured and callers show what they would have sent
// (an invitation link) instead. Every exchange has a deadline; a relay that is down fails the
// send, never hangs the request.
import nodemailer from 'nodemailer';
import type { Config } from '../config.ts';

export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
}

export function createMailer(settings: Config['mail']) {
  const { smtp } = settings;
  const transport = smtp === null
    ? null
    : nodemailer.createTransport({
        host: smtp.host,
        port: smtp.port,
        secure: smtp.secure,
        requireTLS: smtp.requireTls,
        ...(smtp.user !== null && smtp.password !== null ? { auth: { user: smtp.user, pass: smtp.password } } : {}),
        connectionTimeout: settings.timeoutMs,
        greetingTimeout: settings.timeoutMs,
        socketTimeout: settings.timeoutMs,
        dnsTimeout: settings.timeoutMs,
        // Nodemailer logs nothing unless asked; message bodies carry bearer links.
        logger: false,
      });

  return {
    /** False when SMTP_HOST is unset: nothing can be sent. */
    configured: transport !== null,

    /** Sends one message; rejects when the relay refuses it or does not answer in time. */
    async send(mail: OutgoingMail): Promise<void> {
      if (transport === null) throw new Error('no SMTP relay is configured (SMTP_HOST)');
      await transport.sendMail({ from: settings.from, to: mail.to, subject: mail.subject, text: mail.text });
    },

    close(): void {
      transport?.close();
    },
  };
}

export type Mailer = ReturnType<typeof createMailer>;
