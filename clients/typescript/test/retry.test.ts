// Retry-After with a fake fetch: what is waited for, what is never retried, and the bound. (The
// real server's 429s: rate-limit.test.ts.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createApiClient } from '../src/index.js';
import { EchoDocument, HealthDocument } from '../src/generated/graphql.js';
import { retryAfterMs } from '../src/retry-after.js';

/** A fetch that answers `first`, then `{"data":{"health":"ok"}}`, counting the calls. */
function refusingOnce(status: number, retryAfter: string | null) {
  const calls: number[] = [];
  const fake: typeof fetch = async () => {
    calls.push(Date.now());
    if (calls.length === 1) {
      return Response.json(
        {
          errors: [
            {
              message: 'slow down',
              extensions: { code: status === 429 ? 'RATE_LIMITED' : 'SERVICE_UNAVAILABLE' },
            },
          ],
        },
        { status, headers: retryAfter === null ? {} : { 'retry-after': retryAfter } },
      );
    }
    return Response.json({ data: { health: 'ok', echo: 'hi' } });
  };
  return { fetch: fake, calls };
}

const client = (fake: typeof fetch, maxRetryAfterMs?: number) =>
  createApiClient({
    url: 'http://api.invalid/graphql',
    getToken: async () => null,
    fetch: fake,
    maxRetryAfterMs,
  });

test('Retry-After: seconds or an HTTP date', () => {
  assert.equal(retryAfterMs('3'), 3000);
  assert.equal(retryAfterMs(' 0 '), 0);
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(retryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', now), 5000);
  assert.equal(retryAfterMs('Wed, 31 Dec 2025 23:59:00 GMT', now), 0);
  assert.equal(retryAfterMs('soon'), undefined);
  assert.equal(retryAfterMs(null), undefined);
});

test('a query answered 503 with Retry-After waits that long and goes once more', async () => {
  const { fetch, calls } = refusingOnce(503, '1');
  const result = await client(fetch).execute(HealthDocument);
  assert.equal(calls.length, 2);
  assert.ok(calls[1] - calls[0] >= 990, `waited ${calls[1] - calls[0]} ms`);
  assert.deepEqual(result, { data: { health: 'ok', echo: 'hi' }, status: 200 });
});

test('a mutation answered 503 is never retried', async () => {
  const { fetch, calls } = refusingOnce(503, '1');
  const result = await client(fetch).execute(EchoDocument, { message: 'hi' });
  assert.equal(calls.length, 1);
  assert.equal(result.status, 503);
  assert.equal(result.retryAfter, 1);
  assert.equal(result.errors?.[0].extensions.code, 'SERVICE_UNAVAILABLE');
});

test('a wait longer than maxRetryAfterMs is not waited for: the caller gets it', async () => {
  const { fetch, calls } = refusingOnce(429, '60');
  const started = Date.now();
  const result = await client(fetch).execute(HealthDocument);
  assert.equal(calls.length, 1);
  assert.ok(Date.now() - started < 500);
  assert.equal(result.status, 429);
  assert.equal(result.retryAfter, 60);
  assert.equal(result.errors?.[0].extensions.code, 'RATE_LIMITED');
});

test('the default bound is 10 s', async () => {
  const { fetch, calls } = refusingOnce(429, '11');
  const result = await client(fetch).execute(HealthDocument);
  assert.equal(calls.length, 1);
  assert.equal(result.retryAfter, 11);
});

test('without Retry-After nothing is retried', async () => {
  const { fetch, calls } = refusingOnce(503, null);
  const result = await client(fetch).execute(HealthDocument);
  assert.equal(calls.length, 1);
  assert.equal(result.status, 503);
  assert.equal('retryAfter' in result, false);
});
