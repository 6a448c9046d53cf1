// Weft's Bookinfo on loopback, no cluster: productpage -> details + reviews (v1, v2, v3) ->
// ratings as real processes, wired by the same env vars the manifests use. Checks that each
// version says who it is, that v1 never calls ratings while v2/v3 do, that the tracing and
// routing headers reach reviews and ratings, and that productpage degrades (still 200, with the
// upstream's error) when reviews is down or hangs.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { get, startApp, stopApp, upstreamEnv, type App } from './bookinfo-apps.js';

type Json = Record<string, unknown>;
const at = (v: unknown, ...keys: string[]): unknown => keys.reduce<unknown>((o, k) => (o as Json | undefined)?.[k], v);

describe('Bookinfo sample apps (loopback)', () => {
  const apps: App[] = [];
  let ratings: App, details: App, reviewsV1: App, reviewsV3Orphan: App;
  const page: Record<'v1' | 'v2' | 'v3' | 'slow', App> = {} as Record<'v1' | 'v2' | 'v3' | 'slow', App>;
  let hung: net.Server;
  const hungSockets = new Set<net.Socket>();

  const start = async (service: string, name: string, host: string, env: Record<string, string> = {}): Promise<App> => {
    const a = await startApp(service, name, host, env);
    apps.push(a);
    return a;
  };
  const ratingsHits = async (): Promise<number> => at((await get(ratings, '/hits?path=/ratings/0')).json, 'hits') as number;

  beforeAll(async () => {
    // A reviews that accepts connections and never answers: productpage's deadline must fire.
    hung = net.createServer((s) => {
      hungSockets.add(s);
      s.on('close', () => hungSockets.delete(s));
    });
    await new Promise<void>((r) => hung.listen(0, '127.0.0.29', () => r()));
    // A port where nothing listens, for a reviews whose ratings is gone.
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.31', () => r()));
    const closedPort = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));

    [ratings, details] = await Promise.all([start('ratings', 'ratings-v1-test', '127.0.0.21'), start('details', 'details-v1-test', '127.0.0.22')]);
    const reviews = await Promise.all(
      (['v1', 'v2', 'v3'] as const).map((v, i) => start('reviews', `reviews-${v}-test`, `127.0.0.${23 + i}`, { SERVICE_VERSION: v, ...upstreamEnv('ratings', ratings) })),
    );
    reviewsV1 = reviews[0]!;
    reviewsV3Orphan = await start('reviews', 'reviews-v3-orphan', '127.0.0.31', { SERVICE_VERSION: 'v3', RATINGS_HOSTNAME: '127.0.0.31', RATINGS_SERVICE_PORT: String(closedPort) });
    const pages = await Promise.all([
      ...reviews.map((r, i) => start('productpage', `productpage-to-reviews-v${i + 1}`, `127.0.0.${26 + i}`, { ...upstreamEnv('details', details), ...upstreamEnv('reviews', r) })),
      start('productpage', 'productpage-to-hung-reviews', '127.0.0.30', {
        ...upstreamEnv('details', details),
        ...upstreamEnv('reviews', { host: '127.0.0.29', port: (hung.address() as net.AddressInfo).port }),
        REVIEWS_TIMEOUT_MS: '300',
      }),
    ]);
    [page.v1, page.v2, page.v3, page.slow] = pages as [App, App, App, App];
  });

  afterAll(async () => {
    await Promise.all(apps.map(stopApp));
    for (const s of hungSockets) s.destroy();
    await new Promise<void>((r) => (hung ? hung.close(() => r()) : r()));
  });

  it('every service answers /health and says which service, version and pod it is', async () => {
    for (const a of apps) {
      const r = await get(a, '/health');
      expect({ name: a.name, status: r.status, pod: at(r.json, 'pod'), headerPod: r.headers['x-bookinfo-pod'] }).toEqual({ name: a.name, status: 200, pod: a.name, headerPod: a.name });
    }
    const v2 = await get({ host: '127.0.0.24', port: apps.find((a) => a.name === 'reviews-v2-test')!.port }, '/health');
    expect([at(v2.json, 'service'), at(v2.json, 'version'), v2.headers['x-bookinfo-version']]).toEqual(['reviews', 'v2', 'v2']);
  });

  it('productpage -> reviews v1: details and reviews answer, no ratings, ratings never called', async () => {
    const before = await ratingsHits();
    const r = await get(page.v1, '/api/v1/products/0');
    expect(r.status).toBe(200);
    expect([at(r.json, 'service'), at(r.json, 'pod')]).toEqual(['productpage', 'productpage-to-reviews-v1']);
    expect([at(r.json, 'details', 'ok'), at(r.json, 'details', 'body', 'service'), at(r.json, 'details', 'body', 'author')]).toEqual([true, 'details', 'William Shakespeare']);
    const reviews = at(r.json, 'reviews', 'body') as Json;
    expect([reviews.service, reviews.version, reviews.pod, reviews.ratingsEnabled, reviews.ratings]).toEqual(['reviews', 'v1', 'reviews-v1-test', false, undefined]);
    expect((reviews.reviews as Json[]).map((x) => x.rating)).toEqual([undefined, undefined]);
    expect(await ratingsHits()).toBe(before);
  });

  it.each([
    ['v2', 'black'],
    ['v3', 'red'],
  ] as const)('productpage -> reviews %s -> ratings: %s stars from the ratings service', async (version, color) => {
    const before = await ratingsHits();
    const r = await get(page[version], '/api/v1/products/0');
    const reviews = at(r.json, 'reviews', 'body') as Json;
    expect([reviews.version, reviews.pod, reviews.starColor]).toEqual([version, `reviews-${version}-test`, color]);
    expect((reviews.reviews as Json[]).map((x) => x.rating)).toEqual([
      { stars: 5, color },
      { stars: 4, color },
    ]);
    expect([at(reviews, 'ratings', 'ok'), at(reviews, 'ratings', 'body', 'service'), at(reviews, 'ratings', 'body', 'pod')]).toEqual([true, 'ratings', 'ratings-v1-test']);
    expect(await ratingsHits()).toBe(before + 1);
    const html = await get(page[version], '/productpage');
    expect(html.headers['content-type']).toContain('text/html');
    expect(html.text).toContain('<title>Simple Bookstore App</title>');
    expect(html.text).toContain(`reviews ${version} reviews-${version}-test`);
    expect(html.text).toContain(`<span style="color:${color}">★★★★★</span>`);
  });

  it('forwards end-user, x-request-id, traceparent and b3 headers to details, reviews and ratings', async () => {
    const sent = {
      'end-user': 'jason',
      'x-request-id': 'bookinfo-test-request-1',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1',
      'x-b3-traceid': '80f198ee56343ba864fe8b2a57d3eff7',
      'x-b3-spanid': 'e457b5a2e4d86bd1',
      'x-b3-sampled': '1',
      'x-not-propagated': 'nope',
    };
    const { ['x-not-propagated']: _dropped, ...propagated } = sent;
    const r = await get(page.v3, '/api/v1/products/0', sent);
    for (const where of [['details', 'body', 'headers'], ['reviews', 'body', 'headers'], ['reviews', 'body', 'ratings', 'body', 'headers']]) {
      const seen = at(r.json, ...where) as Json;
      expect({ where: where.join('.'), seen: { ...seen, 'user-agent': undefined } }).toEqual({ where: where.join('.'), seen: { ...propagated, 'user-agent': undefined } });
    }
    expect(at(r.json, 'user')).toBe('jason');
  });

  it('?u=jason signs in as end-user jason; without one productpage makes an x-request-id', async () => {
    const r = await get(page.v2, '/api/v1/products/0?u=jason');
    expect(at(r.json, 'reviews', 'body', 'headers', 'end-user')).toBe('jason');
    expect(at(r.json, 'reviews', 'body', 'headers', 'x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const html = await get(page.v2, '/productpage?u=jason');
    expect(html.text).toContain('Signed in as jason');
    const anonymous = await get(page.v2, '/api/v1/products/0');
    expect([at(anonymous.json, 'user'), at(anonymous.json, 'reviews', 'body', 'headers', 'end-user')]).toEqual([null, undefined]);
  });

  it('reviews v3 shows ratings as unavailable when ratings is down', async () => {
    const r = await get(reviewsV3Orphan, '/reviews/0');
    expect(r.status).toBe(200);
    expect(((r.json as Json).reviews as Json[]).map((x) => x.rating)).toEqual([
      { error: 'Ratings service is currently unavailable' },
      { error: 'Ratings service is currently unavailable' },
    ]);
    expect(at(r.json, 'ratings', 'error')).toMatch(/^ratings \(http:\/\/127\.0\.0\.31:\d+\/ratings\/0\) unavailable: ECONNREFUSED/);
  });

  it('productpage gives up on a reviews that hangs, at its deadline, and still renders', async () => {
    const r = await get(page.slow, '/api/v1/products/0');
    expect([r.status, at(r.json, 'details', 'ok'), at(r.json, 'reviews', 'ok')]).toEqual([200, true, false]);
    expect(at(r.json, 'reviews', 'error')).toMatch(/^reviews \(http:\/\/127\.0\.0\.29:\d+\/reviews\/0\) unavailable: timed out after 300 ms/);
    const api = await get(page.slow, '/api/v1/products/0/reviews');
    expect([api.status, at(api.json, 'ok')]).toEqual([503, false]);
  });

  it('unknown paths are 404 with the identity; a bad SERVICE_VERSION stops reviews with a clear error', async () => {
    const r = await get(details, '/nope');
    expect([r.status, at(r.json, 'service'), at(r.json, 'error')]).toEqual([404, 'details', 'no route for GET /nope']);
    await expect(startApp('reviews', 'reviews-v4-test', '127.0.0.32', { SERVICE_VERSION: 'v4' })).rejects.toThrow('SERVICE_VERSION must be v1, v2 or v3, got "v4"');
  });

  it('reviews v1 closes cleanly on SIGTERM, and productpage then shows reviews unavailable', async () => {
    expect(await stopApp(reviewsV1)).toBe(0);
    expect(reviewsV1.output()).toContain('SIGTERM, closing');
    const r = await get(page.v1, '/api/v1/products/0');
    expect([r.status, at(r.json, 'details', 'ok'), at(r.json, 'reviews', 'ok')]).toEqual([200, true, false]);
    expect(at(r.json, 'reviews', 'error')).toMatch(/unavailable: ECONNREFUSED/);
    const html = await get(page.v1, '/productpage');
    expect(html.status).toBe(200);
    expect(html.text).toContain('Sorry, product reviews are currently unavailable for this book.');
    expect(html.text).toContain('William Shakespeare');
  });
});
