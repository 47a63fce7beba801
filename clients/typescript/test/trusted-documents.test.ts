// The client against a server that enforces the codegen's persisted-documents manifest
// (GRAPHQL_TRUSTED_DOCUMENTS_MODE=enforce): `persisted: true` sends hashes only and is served; a
// document of the app's own, not in the manifest, is refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'graphql';
import { createApiClient } from '../src/index.js';
import { EchoDocument, HealthDocument, PostsDocument } from '../src/generated/graphql.js';
import { fakeClerk, recordingFetch, server, signedOut } from './helpers.js';

test('persisted: true runs generated operations by hash alone', async () => {
  const { fetch, exchanges } = recordingFetch();
  const api = createApiClient({
    url: server.trustedUrl(),
    getToken: signedOut,
    fetch,
    persisted: true,
  });
  const health = await api.execute(HealthDocument);
  assert.deepEqual(health.data, { health: 'ok' });
  const posts = await api.execute(PostsDocument, { first: 5 });
  assert.equal(posts.errors, undefined);
  assert.ok(Array.isArray(posts.data?.posts.nodes));
  // Signed in: the token and the marks work as with text.
  const clerk = fakeClerk('user_trusted_1');
  const signedIn = createApiClient({
    url: server.trustedUrl(),
    getToken: clerk.getToken,
    fetch,
    persisted: true,
  });
  const echo = await signedIn.execute(EchoDocument, { message: 'by hash' });
  assert.deepEqual(echo.data, { echo: 'user_trusted_1: by hash' });
  assert.equal(exchanges.length, 3);
  for (const { body, status } of exchanges) {
    assert.equal(status, 200);
    assert.equal('query' in body, false, 'no text was sent');
    assert.ok(body.extensions, 'the hash was sent');
  }
});

test('a document not in the manifest is refused; the text of a generated one runs', async () => {
  const api = createApiClient({ url: server.trustedUrl(), getToken: signedOut });
  const own = await api.execute(parse('query Own { health }'));
  assert.equal(own.status, 400);
  assert.equal(own.data, undefined);
  assert.equal(own.errors?.[0]?.extensions.code, 'PERSISTED_QUERY_NOT_IN_LIST');
  // The generated documents' text is the manifest's: listed, so it runs.
  const listed = await api.execute(HealthDocument);
  assert.deepEqual(listed.data, { health: 'ok' });
});
