// Retry-After against the real server, started with RATE_LIMIT_USER_PER_MINUTE=30: a user may
// send 30 requests at once, then one every 2 s; over that the answer is 429 with Retry-After.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CreatePostDocument, HealthDocument, PostsDocument } from '../src/generated/graphql.js';
import { apiClient, mint, recordingFetch, server, until } from './helpers.js';

/** Spends `token`'s user's quota until the server refuses: the seconds it asks to wait. */
async function exhaust(token: string): Promise<number> {
  for (let sent = 0; sent < 100; sent += 1) {
    const response = await fetch(server.limitedUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: '{ health }' }),
    });
    await response.arrayBuffer();
    if (response.status === 429) return Number(response.headers.get('retry-after'));
  }
  throw new Error('the server never answered 429: is RATE_LIMIT_USER_PER_MINUTE=30 set?');
}

test('a query refused with 429 waits Retry-After, then is retried once', async () => {
  const token = mint('user_ts_limited_query');
  await exhaust(token);
  const { fetch, exchanges } = recordingFetch();
  const api = apiClient({ url: server.limitedUrl(), getToken: async () => token, fetch });
  const started = Date.now();
  const result = await api.execute(HealthDocument);
  const elapsed = Date.now() - started;
  assert.deepEqual(result, { data: { health: 'ok' }, status: 200 });
  assert.deepEqual(
    exchanges.map((e) => e.status),
    [429, 200],
  );
  const asked = Number(exchanges[0].retryAfter);
  assert.ok(asked >= 1 && asked <= 2, `Retry-After: ${asked}`);
  assert.ok(elapsed >= asked * 1000 - 20, `waited ${elapsed} ms for Retry-After: ${asked}`);
});

test('a mutation refused with 429 is not retried', async () => {
  const token = mint('user_ts_limited_mutation');
  await exhaust(token);
  const { fetch, exchanges } = recordingFetch();
  const api = apiClient({ url: server.limitedUrl(), getToken: async () => token, fetch });
  const started = Date.now();
  const title = `Never written ${Date.now()}`;
  const result = await api.execute(CreatePostDocument, { input: { title, published: true } });
  assert.ok(Date.now() - started < 1000, 'did not wait');
  assert.equal(result.status, 429);
  assert.equal(result.data, undefined);
  assert.equal(result.errors?.[0].extensions.code, 'RATE_LIMITED');
  assert.equal(result.errors?.[0].extensions.reason, 'user_rate_limit');
  assert.ok(
    result.retryAfter !== undefined && result.retryAfter >= 1,
    `retryAfter ${result.retryAfter}`,
  );
  assert.deepEqual(
    exchanges.map((e) => e.status),
    [429],
  );

  // Once the quota is back: no such post, nothing was written behind the caller's back.
  await until(result.retryAfter! * 1000);
  const posts = await api.execute(PostsDocument, { first: 20 });
  assert.equal(posts.errors, undefined, JSON.stringify(posts.errors));
  assert.equal(
    posts.data?.posts.nodes.some((post) => post.title === title),
    false,
  );
});

test('a Retry-After longer than maxRetryAfterMs is handed to the caller at once', async () => {
  const token = mint('user_ts_limited_bound');
  await exhaust(token);
  const { fetch, exchanges } = recordingFetch();
  const api = apiClient({
    url: server.limitedUrl(),
    getToken: async () => token,
    fetch,
    maxRetryAfterMs: 500,
  });
  const result = await api.execute(HealthDocument);
  assert.equal(result.status, 429);
  assert.equal(result.errors?.[0].extensions.code, 'RATE_LIMITED');
  assert.ok(result.retryAfter !== undefined && result.retryAfter >= 1);
  assert.equal(exchanges.length, 1);
});
