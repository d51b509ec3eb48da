// Shared by the sign-up tests: an app listening on loopback with the echo routes, the platform
// origin, and a browser filling in the form. Links the app writes name PUBLIC_PORT (3000 in
// development); `toApp` sends them to the port the test app really listens on, as a proxy would.
import { startAuthApp, client, csrfTokenIn, PASSWORD } from '../helpers/fixtures.ts';
import type { HttpClient, HttpResponse } from '../helpers/http-client.ts';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export const FORM = {
  clinicName: 'Acme Physio',
  slug: 'acme-physio',
  region: 'local',
  adminName: 'Jo Admin',
  email: 'jo@acme.example',
  password: PASSWORD,
};

export async function startSignupApp(t: Teardown, env: Record<string, string> = {}) {
  const app = await startAuthApp(t, { env: { RATE_LIMIT_SIGN_UP_PER_HOUR: '1000000', ...env } });
  const platform = `http://localhost:${app.port}`;
  const toApp = (url: string): string => {
    const u = new URL(url);
    u.port = app.port;
    return u.href;
  };
  return { ...app, platform, toApp };
}

/** GET /signup then POST the form with the page's CSRF token. */
export async function submitSignup(http: HttpClient, platform: string, fields: Record<string, string>): Promise<HttpResponse> {
  const page = await http.get(`${platform}/signup`);
  return http.post(`${platform}/signup`, { ...fields, _csrf: csrfTokenIn(page) });
}

export function browser(t: Teardown): HttpClient {
  return client({}, t);
}
