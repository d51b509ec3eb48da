// Sign-in is logged (who, how, success or why not) without passwords, session IDs or tokens.
import t from 'tap';
import { captureLogs } from '../../helpers/logs.ts';
import { buildTestApp } from '../../helpers/app.ts';
import { PASSWORD, TEST_AUTH_ENV, addUser, client, sessionCookie, sessionIdOf, signInWithPassword, registerEchoRoutes } from '../../helpers/fixtures.ts';

t.test('sign-in events are logged without secrets', async (t) => {
  const { logger, lines } = captureLogs();
  const { runtime, address } = await buildTestApp(t, { env: TEST_AUTH_ENV, listen: true, loggerInstance: logger, extend: registerEchoRoutes });
  const acme = `http://acme.localhost:${new URL(address!).port}`;
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  const user = await addUser(runtime, 'acme', { email: 'jo@acme.example' });

  const wrong = 'my-wrong-Passw0rd';
  await signInWithPassword(client({}, t), acme, 'jo@acme.example', wrong);
  await signInWithPassword(client({}, t), acme, 'nobody@acme.example', wrong);
  const http = client({}, t);
  const page = await http.get(`${acme}/login`);
  await http.post(`${acme}/login`, { email: 'jo@acme.example', password: PASSWORD, _csrf: /name="_csrf" value="([^"]+)"/.exec(page.body)![1]! });
  const signedIn = sessionCookie(http, 'acme.localhost')!;
  const { token } = (await http.get(`${acme}/__test/csrf`)).json() as { token: string };
  await http.post(`${acme}/logout`, { _csrf: token });

  const events = lines.filter((l) => l.event === 'sign_in' || l.event === 'sign_out');
  t.same(
    events.map((l) => [l.event, l.outcome ?? null, l.reason ?? null, l.userId ?? null]),
    [
      ['sign_in', 'failure', 'wrong_password', user.id],
      ['sign_in', 'failure', 'unknown_email', null],
      ['sign_in', 'success', null, user.id],
      ['sign_out', null, null, user.id],
    ],
  );
  t.ok(events.every((l) => l.tenant === 'acme'), 'each names the clinic');
  const all = lines.map((l) => JSON.stringify(l)).join('\n');
  for (const secret of [wrong, PASSWORD, token, sessionIdOf(signedIn).split('.')[2]!]) {
    t.notOk(all.includes(secret), `never logged: ${secret.slice(0, 6)}...`);
  }
  t.notMatch(all, /nobody@acme\.example/, 'nor the e-mail typed for an unknown account');
});
