// The demo clinic `npm start` prepares in development: an admin whose password is shown once.
import t from 'tap';
import { DEMO_ADMIN_EMAIL, ensureDemo } from '../../src/dev/demo.ts';
import { client, signInWithPassword, startAuthApp } from '../helpers/fixtures.ts';

t.test('the demo clinic gets an admin whose password is shown once', async (t) => {
  const { runtime, origin } = await startAuthApp(t);
  const first = await ensureDemo(runtime);
  t.equal(first.admin.email, DEMO_ADMIN_EMAIL);
  t.type(first.admin.password, 'string');
  t.ok(first.admin.password!.length >= 16);
  t.equal((await signInWithPassword(client({}, t), origin('demo'), DEMO_ADMIN_EMAIL, first.admin.password!)).status, 303);

  const second = await ensureDemo(runtime);
  t.equal(second.admin.password, null, 'not shown (nor known) again');
  t.match(second.admin.resetCommand, /sidechart users set-password demo admin@demo\.localhost --password-stdin/);
});
