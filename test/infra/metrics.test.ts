import t from 'tap';
import { buildTestApp } from '../helpers/app.ts';

t.test('metrics count by route pattern and region, never by clinic', async (t) => {
  const { app, runtime } = await buildTestApp(t);
  await runtime.tenants.create({ slug: 'metric-a' });
  await runtime.tenants.create({ slug: 'metric-b' });
  for (const host of ['metric-a.localhost', 'metric-b.localhost', 'nobody.localhost']) await app.inject({ url: '/?x=1', headers: { host } });
  const text = await app.metrics.metrics();
  t.match(text, /sidechart_http_requests_total\{method="GET",route="\/",status_code="200",region="local"\} 2/);
  t.match(text, /sidechart_http_requests_total\{method="GET",route="\/",status_code="404",region="none"\} 1/);
  t.match(text, /sidechart_db_pool_connections\{region="local",state="total"\}/);
  t.notMatch(text, /metric-a|metric-b|nobody|x=1/, 'no clinic slug or query string in any label');
});
