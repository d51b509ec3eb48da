// `sidechart users ...` as an SRE would run it, and what it means for signing in.
import t from 'tap';
import { cli } from '../helpers/app.ts';
import { PASSWORD, authChangesSettled, client, sessionRows, signInWithPassword, startAuthApp } from '../helpers/fixtures.ts';

t.test('create, list, disable, enable, set-password', async (t) => {
  const { env, runtime, origin } = await startAuthApp(t);
  t.equal((await cli(env, ['tenants', 'create', 'acme', '--name', 'Acme Physio'])).code, 0);
  const acme = origin('acme');

  const created = await cli(env, ['users', 'create', 'acme', 'Jo@Acme.Example', '--role', 'admin', '--name', 'Jo Smith', '--password-stdin'], { stdin: `${PASSWORD}\n` });
  t.equal(created.code, 0, created.err);
  t.match(created.out, /created admin jo@acme\.example in clinic acme with a password/);
  t.notMatch(created.out + created.err, new RegExp(PASSWORD), 'the password is never printed');
  t.equal((await signInWithPassword(client({}, t), acme, 'jo@acme.example', PASSWORD)).status, 303, 'the trailing newline is not part of the password');

  const sso = await cli(env, ['users', 'create', 'acme', 'kim@acme.example', '--json']);
  t.equal(sso.code, 0, sso.err);
  const kim = JSON.parse(sso.out);
  t.same({ email: kim.email, role: kim.role, hasPassword: kim.hasPassword, disabled: kim.disabled }, { email: 'kim@acme.example', role: 'staff', hasPassword: false, disabled: false });
  t.notOk('password_hash' in kim);

  const dup = await cli(env, ['users', 'create', 'acme', 'JO@acme.example']);
  t.equal(dup.code, 1);
  t.match(dup.err, /already exists/);

  const list = await cli(env, ['users', 'list', 'acme', '--json']);
  t.equal(list.code, 0);
  t.same((JSON.parse(list.out) as { email: string }[]).map((u) => u.email), ['jo@acme.example', 'kim@acme.example']);
  const human = await cli(env, ['users', 'list', 'acme']);
  t.match(human.out, /jo@acme\.example +admin +active +yes +Jo Smith/);
  t.match(human.out, /kim@acme\.example +staff +active +no/);
  t.match(human.out, /2 user\(s\)/);

  // Disabling signs the user out everywhere.
  const signedIn = client({}, t);
  await signInWithPassword(signedIn, acme, 'jo@acme.example', PASSWORD);
  t.equal((await signedIn.get(`${acme}/__test/whoami`)).status, 200);
  const disabled = await cli(env, ['users', 'disable', 'acme', 'jo@acme.example']);
  t.equal(disabled.code, 0, disabled.err);
  t.match(disabled.out, /disabled jo@acme\.example in clinic acme \(\d+ session\(s\) ended\)/);
  t.equal((await sessionRows(runtime, 'acme')).filter((r) => r.data.userId).length, 0);
  await authChangesSettled(runtime);
  t.equal((await signedIn.get(`${acme}/__test/whoami`)).status, 303);
  t.equal((await signInWithPassword(client({}, t), acme, 'jo@acme.example', PASSWORD)).status, 403);
  t.match((await cli(env, ['users', 'list', 'acme'])).out, /jo@acme\.example +admin +disabled/);
  t.equal((await cli(env, ['users', 'enable', 'acme', 'jo@acme.example'])).code, 0);
  t.equal((await signInWithPassword(client({}, t), acme, 'jo@acme.example', PASSWORD)).status, 303);

  // A new password works, the old one does not, and existing sessions end.
  const before = client({}, t);
  await signInWithPassword(before, acme, 'jo@acme.example', PASSWORD);
  const reset = await cli(env, ['users', 'set-password', 'acme', 'jo@acme.example', '--password-stdin'], { stdin: 'a brand new passphrase\r\n' });
  t.equal(reset.code, 0, reset.err);
  t.match(reset.out, /password set for jo@acme\.example/);
  await authChangesSettled(runtime);
  t.equal((await before.get(`${acme}/__test/whoami`)).status, 303, 'signed out everywhere');
  t.equal((await signInWithPassword(client({}, t), acme, 'jo@acme.example', PASSWORD)).status, 401);
  t.equal((await signInWithPassword(client({}, t), acme, 'jo@acme.example', 'a brand new passphrase')).status, 303);
  t.equal((await signInWithPassword(client({}, t), acme, 'kim@acme.example', 'anything at all')).status, 401, 'no password: no password sign-in');
});

t.test('refusals are one clear line', async (t) => {
  const { env } = await startAuthApp(t);
  t.equal((await cli(env, ['tenants', 'create', 'acme'])).code, 0);
  t.equal((await cli(env, ['tenants', 'create', 'paused'])).code, 0);
  t.equal((await cli(env, ['tenants', 'suspend', 'paused'])).code, 0);

  const cases: [string[], string | undefined, number, RegExp][] = [
    [['users', 'create', 'acme', 'short@acme.example', '--password-stdin'], 'tooshort\n', 1, /at least 10 characters/],
    [['users', 'create', 'acme', 'long@acme.example', '--password-stdin'], 'x'.repeat(1025), 1, /at most 1024 characters/],
    [['users', 'create', 'acme', 'empty@acme.example', '--password-stdin'], '', 1, /at least 10 characters/],
    [['users', 'create', 'acme', 'not-an-email'], undefined, 1, /is not an e-mail address/],
    [['users', 'create', 'acme', 'x@acme.example', '--role', 'owner'], undefined, 2, /Allowed choices are admin, staff/],
    [['users', 'create', 'nobody', 'x@acme.example'], undefined, 1, /no clinic "nobody"/],
    [['users', 'create', 'paused', 'x@acme.example'], undefined, 1, /clinic "paused" is suspended; users can only be managed on an active clinic/],
    [['users', 'list', 'paused'], undefined, 1, /is suspended/],
    [['users', 'disable', 'acme', 'ghost@acme.example'], undefined, 1, /no user with the e-mail ghost@acme\.example/],
    [['users', 'set-password', 'acme', 'ghost@acme.example'], undefined, 2, /required option '--password-stdin'/],
  ];
  for (const [args, stdin, code, message] of cases) {
    const run = await cli(env, args, stdin === undefined ? {} : { stdin });
    t.equal(run.code, code, args.join(' '));
    t.match(run.err, message, args.join(' '));
  }
  t.match((await cli(env, ['users', 'list', 'acme'])).out, /no users in clinic acme yet/);
});
