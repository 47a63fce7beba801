// Subscriptions against the real server: a socket kept signed in past its first token's `exp` by
// refresh pings, reconnection after a 4403, and refused operations typed by code.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreatePostDocument,
  MyPostEventsDocument,
  PostPublishedDocument,
  type MyPostEventsSubscription,
  type PostPublishedSubscription,
} from '../src/generated/graphql.js';
import type { ApiClient, ApiError, GraphQLResult, SubscriptionSink } from '../src/index.js';
import { apiClient, expiry, fakeClerk, mint, until, within } from './helpers.js';

/** The socket's life, as graphql-ws reports it; the socket is closed when the test ends. */
function watch(t: TestContext, api: ApiClient) {
  t.after(() => api.dispose());
  const life = { connected: 0, closes: [] as number[], pongs: 0 };
  api.ws!.on('connected', () => (life.connected += 1));
  api.ws!.on('closed', (event) => life.closes.push((event as { code: number }).code));
  api.ws!.on('pong', () => (life.pongs += 1));
  return life;
}

/** A subscription started by `start`: a promise of its next result, and of its failure. */
function collect<TData>(start: (sink: SubscriptionSink<TData>) => () => void) {
  let waiting: ((result: GraphQLResult<TData>) => void) | undefined;
  let failed: ((errors: ApiError[]) => void) | undefined;
  const failure = new Promise<ApiError[]>((resolve) => (failed = resolve));
  const stop = start({ next: (result) => waiting?.(result), error: (errors) => failed?.(errors) });
  return {
    failure,
    stop,
    next: (what: string) =>
      within(new Promise<GraphQLResult<TData>>((resolve) => (waiting = resolve)), 5000, what),
  };
}

/** Connected, and the subscription registered on the server (it starts right after the ack). */
async function subscribed(life: { connected: number }, connections = 1) {
  const connected = (async () => {
    while (life.connected < connections) await until(20);
  })();
  await within(connected, 10_000, `connection ${connections}`);
  await until(200);
}

async function publish(user: string, title: string) {
  const result = await apiClient({ getToken: async () => mint(user) }).execute(CreatePostDocument, {
    input: { title, published: true },
  });
  assert.equal(result.errors, undefined, JSON.stringify(result.errors));
}

test(
  "refresh pings keep a subscription going past its first token's exp",
  { timeout: 20_000 },
  async (t) => {
    const user = 'user_ts_ws_refresh';
    // Tokens of 3 s; clerk-js hands out a new one when less than 2 s are left.
    const clerk = fakeClerk(user, { ttl: 3, leewaySecs: 2 });
    const api = apiClient({ getToken: clerk.getToken, tokenRefreshIntervalMs: 500 });
    const life = watch(t, api);
    const events = collect<MyPostEventsSubscription>((sink) =>
      api.subscribe(MyPostEventsDocument, sink),
    );
    await subscribed(life);
    const first = clerk.minted[0];
    await until(expiry(first) - Date.now() + 1500);

    const next = events.next('the event');
    await publish(user, 'After the first token expired');
    const event = await next;
    assert.equal(event.data?.myPostEvents.kind, 'CREATED');
    assert.equal(event.data?.myPostEvents.post.title, 'After the first token expired');
    assert.ok(Date.now() > expiry(first) + 1000);
    assert.deepEqual(life.closes, [], 'never closed');
    assert.equal(life.connected, 1);
    assert.ok(life.pongs >= 2, `${life.pongs} pongs`);
    assert.ok(clerk.minted.length >= 2, 'fresh tokens were sent');
    events.stop();
  },
);

test(
  'without refresh pings the socket closes with 4403 at exp and signs in again with a new token',
  { timeout: 30_000 },
  async (t) => {
    const user = 'user_ts_ws_reconnect';
    // A cache that would hand the expired token out again: only skipCache gets a new one.
    const clerk = fakeClerk(user, { ttl: 2, leewaySecs: -Infinity });
    const api = apiClient({ getToken: clerk.getToken, tokenRefreshIntervalMs: 60_000 });
    const life = watch(t, api);
    const events = collect<MyPostEventsSubscription>((sink) =>
      api.subscribe(MyPostEventsDocument, sink),
    );
    await subscribed(life, 2);
    assert.deepEqual(life.closes, [4403]);
    assert.equal(clerk.skipCacheCalls, 1, 'the reconnection asked Clerk for a new token');

    const next = events.next('the event after reconnecting');
    await publish(user, 'After reconnecting');
    assert.equal((await next).data?.myPostEvents.post.title, 'After reconnecting');
    events.stop();
  },
);

test('a public subscription needs no token; a guarded one is refused, typed', async (t) => {
  const api = apiClient({ getToken: async () => null });
  const life = watch(t, api);
  const refused = collect<MyPostEventsSubscription>((sink) =>
    api.subscribe(MyPostEventsDocument, sink),
  );
  const errors = await within(refused.failure, 5000, 'the refusal');
  assert.equal(errors[0].extensions.code, 'UNAUTHENTICATED');

  const published = collect<PostPublishedSubscription>((sink) =>
    api.subscribe(PostPublishedDocument, sink),
  );
  await subscribed(life);
  const next = published.next('the published post');
  await publish('user_ts_ws_public', 'For everyone');
  assert.equal((await next).data?.postPublished.title, 'For everyone');
  published.stop();
});
