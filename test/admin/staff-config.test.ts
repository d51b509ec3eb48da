// The Staff section's configuration: outgoing e-mail (SMTP_*, MAIL_FROM) and the invitation
// lifetime; defaults, and one line naming the variable when a value is wrong.
import t from 'tap';
import { PRODUCTION_ENV, assertConfigRefuses } from '../helpers/app.ts';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { createMailer } from '../../src/infra/mail.ts';

const production = PRODUCTION_ENV;

t.test('defaults: no SMTP (links are shown, nothing is sent), invitations last 7 days', async (t) => {
  const config = loadConfig({});
  t.equal(config.mail.smtp, null);
  t.equal(config.mail.timeoutMs, 10_000);
  t.equal(config.invitationTtlHours, 168);
  t.equal(createMailer(config.mail).configured, false);
  await t.rejects(createMailer(config.mail).send({ to: 'a@b.c', subject: 's', text: 't' }), /SMTP_HOST/);
});

t.test('an SMTP relay', async (t) => {
  const env = { SMTP_HOST: 'smtp.example.com', MAIL_FROM: 'Sidechart <no-reply@sidechart.app>' };
  t.same(loadConfig(env).mail, {
    smtp: { host: 'smtp.example.com', port: 587, secure: false, requireTls: false, user: null, password: null },
    from: 'Sidechart <no-reply@sidechart.app>',
    timeoutMs: 10_000,
  });
  t.match(loadConfig({ ...env, SMTP_SECURE: 'true' }).mail.smtp, { port: 465, secure: true });
  t.match(loadConfig({ ...env, SMTP_HOST: '127.0.0.1', SMTP_PORT: '2525', SMTP_USER: 'u', SMTP_PASSWORD: 'p', SMTP_TIMEOUT_MS: '500' }).mail, {
    smtp: { host: '127.0.0.1', port: 2525, user: 'u', password: 'p' },
    timeoutMs: 500,
  });
  t.equal(loadConfig({ ...production, ...env }).mail.smtp?.requireTls, true, 'production insists on STARTTLS');
  t.equal(loadConfig({ ...production, ...env, SMTP_REQUIRE_TLS: 'false' }).mail.smtp?.requireTls, false);
  t.equal(createMailer(loadConfig(env).mail).configured, true);
  t.equal(loadConfig({ INVITATION_TTL_HOURS: '24' }).invitationTtlHours, 24);
});

t.test('bad values name the variable, on one line', async (t) => {
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ SMTP_HOST: 'smtp.example.com' }, 'MAIL_FROM', /required when SMTP_HOST is set/],
    [{ SMTP_HOST: 'smtp.example.com', MAIL_FROM: 'nobody' }, 'MAIL_FROM', /not an e-mail address/],
    [{ MAIL_FROM: 'Sidechart <not an address>' }, 'MAIL_FROM', /not an e-mail address/],
    [{ SMTP_HOST: 'bad host!', MAIL_FROM: 'a@b.c' }, 'SMTP_HOST', /not a host name/],
    [{ SMTP_PORT: '25' }, 'SMTP_PORT', /SMTP_HOST is not/],
    [{ SMTP_HOST: 'smtp.example.com', MAIL_FROM: 'a@b.c', SMTP_PORT: '0' }, 'SMTP_PORT', /from 1 to 65535/],
    [{ SMTP_HOST: 'smtp.example.com', MAIL_FROM: 'a@b.c', SMTP_USER: 'u' }, 'SMTP_PASSWORD', /go together/],
    [{ SMTP_HOST: 'smtp.example.com', MAIL_FROM: 'a@b.c', SMTP_SECURE: 'maybe' }, 'SMTP_SECURE', /true or false/],
    [{ INVITATION_TTL_HOURS: '0' }, 'INVITATION_TTL_HOURS', /from 1 to 720/],
    [{ INVITATION_TTL_HOURS: '1000' }, 'INVITATION_TTL_HOURS', /from 1 to 720/],
  ];
  for (const [env, variable, message] of cases) {
    assertConfigRefuses(t, env, variable, message);
  }
});
