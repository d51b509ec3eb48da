// JSON logs: each line about a clinic's request names the clinic and the request id; credentials
// never appear; a 5xx is logged in full but answered with a masked page.
import t from 'tap';
import { captureLogs } from '../helpers/logs.ts';
import { buildTestApp } from '../helpers/app.ts';

t.test('logs carry request id and tenant, never credentials; 5xx is masked', async (t) => {
  const { logger, lines } = captureLogs();
  const { app, runtime } = await buildTestApp(t, {
    loggerInstance: logger,
    extend(app) {
      app.get('/test/explode', async () => {
        throw new Error('password authentication failed for user "postgres" at 10.0.0.5');
      });
    },
  });
  await runtime.tenants.create({ slug: 'loggy' });

  // A client-chosen request id is ignored: it would let callers forge log correlation.
  const res = await app.inject({
    url: '/',
    headers: { host: 'loggy.localhost', cookie: 'sidechart=s3cr3t-session-id', authorization: 'Basic c2VjcmV0LWtleTo=', 'x-request-id': 'forged-request-id', 'request-id': 'forged-request-id' },
  });
  t.equal(res.statusCode, 200);
  const completed = lines.find((l) => l.msg === 'request completed');
  t.ok(completed, 'request completed line');
  t.equal(completed!.tenant, 'loggy');
  t.match(String(completed!.reqId), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'our own id, a UUID');
  t.notOk(JSON.stringify(lines).includes('forged-request-id'), 'the client-sent id appears nowhere');
  const incoming = lines.find((l) => l.msg === 'incoming request');
  t.equal(incoming?.reqId, completed!.reqId, 'every line of the request carries the same id');
  const all = lines.map((l) => JSON.stringify(l)).join('\n');
  t.notMatch(all, /s3cr3t-session-id|c2VjcmV0LWtleTo/, 'cookie and authorization never logged');

  const boom = await app.inject({ url: '/test/explode', headers: { host: 'loggy.localhost' } });
  t.equal(boom.statusCode, 500);
  t.notMatch(boom.body, /password authentication|10\.0\.0\.5|at .*\.ts/, 'the page says nothing of the cause');
  const failure = lines.find((l) => l.msg === 'request failed');
  t.ok(failure, 'the failure is logged');
  t.match(boom.body, `Reference: <code>${String(failure!.reqId)}</code>`, 'the page names the logged request id, for support');
  t.equal(failure!.tenant, 'loggy');
  t.match(JSON.stringify(failure!.err), /password authentication failed/);
});
