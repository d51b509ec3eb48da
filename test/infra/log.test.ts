// Request logs keep sign-in URLs readable without their one-time secrets.
import t from 'tap';
import { redactUrl, requestLogSerializer } from '../../src/infra/log.ts';

t.test('redactUrl', async (t) => {
  const cases: [string | undefined, string | undefined][] = [
    [undefined, undefined],
    ['/login', '/login'],
    ['/patients?patient_id=42', '/patients?patient_id=42'],
    ['/login/oidc/callback?code=abc&state=def&iss=https%3A%2F%2Fidp', '/login/oidc/callback?code=redacted&state=redacted&iss=https%3A%2F%2Fidp'],
    ['/login/sso/complete?token=eyJ.x.y', '/login/sso/complete?token=redacted'],
    ['/sso/google/start?tenant=acme&attempt=eyJ', '/sso/google/start?tenant=acme&attempt=redacted'],
    ['/x?CODE=1&Code=2', '/x?CODE=redacted&Code=redacted'],
  ];
  for (const [input, expected] of cases) t.equal(redactUrl(input), expected, String(input));
  t.match(requestLogSerializer({ method: 'GET', url: '/login/sso/complete?token=secret', ip: '127.0.0.1', host: 'a.localhost' }), {
    method: 'GET', url: '/login/sso/complete?token=redacted', remoteAddress: '127.0.0.1', host: 'a.localhost',
  });
});
