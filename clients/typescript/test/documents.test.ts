// The generated documents: their types, the persisted-documents manifest and the request bodies
// built from it (no server: a fake fetch shows what is sent; trusted-documents.test.ts sends it
// to a server that enforces the manifest).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import WebSocket from 'ws';
import * as generated from '../src/generated/graphql.js';
import { createApiClient } from '../src/index.js';

const manifest: Record<string, string> = JSON.parse(
  readFileSync(new URL('../../src/generated/persisted-documents.json', import.meta.url), 'utf8'),
);

/** A fetch that answers `{"data":{}}` and keeps the bodies it was sent. */
function capturingFetch() {
  const bodies: Record<string, unknown>[] = [];
  const fake: typeof fetch = async (_input, init) => {
    bodies.push(JSON.parse(String(init?.body)));
    return Response.json({ data: {} });
  };
  return { fetch: fake, bodies };
}

const documents = Object.entries(generated).filter(([name]) => name.endsWith('Document'));

test('every key of the manifest is the sha256 hex of its document', () => {
  assert.ok(Object.keys(manifest).length > 0);
  for (const [hash, text] of Object.entries(manifest)) {
    assert.equal(createHash('sha256').update(text).digest('hex'), hash);
  }
});

test('every generated operation is in the manifest, under the hash it carries', () => {
  // The example operations of the template, queries, mutations and subscriptions.
  assert.deepEqual(documents.map(([name]) => name).sort(), [
    'CreatePostDocument',
    'DeletePostDocument',
    'EchoDocument',
    'HealthDocument',
    'MeDocument',
    'MyPostEventsDocument',
    'NoteDocument',
    'NotesDocument',
    'PostDocument',
    'PostPublishedDocument',
    'PostsDocument',
    'UpdatePostDocument',
    'UserDocument',
    'UsersDocument',
    'ViewerDocument',
  ]);
  assert.equal(Object.keys(manifest).length, documents.length);
  for (const [name, document] of documents) {
    const hash = (document as { __meta__?: { hash?: string } }).__meta__?.hash;
    assert.ok(hash && manifest[hash], `${name} has a hash listed in the manifest`);
  }
});

test('persisted: true sends the hash, the operation name and the variables, never the text', async () => {
  const { fetch, bodies } = capturingFetch();
  const api = createApiClient({
    url: 'http://api.invalid/graphql',
    getToken: async () => null,
    fetch,
    persisted: true,
  });
  await api.execute(generated.PostsDocument, { first: 5 });
  await api.execute(generated.HealthDocument);
  const hash = (generated.PostsDocument as { __meta__?: { hash: string } }).__meta__!.hash;
  assert.deepEqual(bodies[0], {
    operationName: 'Posts',
    variables: { first: 5 },
    extensions: { persistedQuery: { version: 1, sha256Hash: hash } },
  });
  assert.equal(createHash('sha256').update(manifest[hash]).digest('hex'), hash);
  assert.equal('query' in bodies[1], false);
  assert.equal(bodies[1].operationName, 'Health');
});

test('by default the text sent is the manifest text, so that it is a listed document', async () => {
  const { fetch, bodies } = capturingFetch();
  const api = createApiClient({
    url: 'http://api.invalid/graphql',
    getToken: async () => null,
    fetch,
  });
  await api.execute(generated.UserDocument, { id: 'user_1' });
  const hash = (generated.UserDocument as { __meta__?: { hash: string } }).__meta__!.hash;
  assert.deepEqual(bodies[0], {
    query: manifest[hash],
    operationName: 'User',
    variables: { id: 'user_1' },
  });
  assert.equal('extensions' in bodies[0], false);
});

test("a document of the app's own is printed, and cannot be sent persisted", async () => {
  const { fetch, bodies } = capturingFetch();
  const own = parse('query Own { health }');
  await createApiClient({
    url: 'http://api.invalid/graphql',
    getToken: async () => null,
    fetch,
  }).execute(own);
  assert.deepEqual(bodies[0], { query: 'query Own {\n  health\n}', operationName: 'Own' });
  const persisted = createApiClient({
    url: 'http://api.invalid/graphql',
    getToken: async () => null,
    fetch,
    persisted: true,
  });
  await assert.rejects(persisted.execute(own), /only generated documents/);
  assert.equal(bodies.length, 1);
});

test('a subscription is refused by execute(), a query by subscribe()', async () => {
  const { fetch, bodies } = capturingFetch();
  const api = createApiClient({
    url: 'http://api.invalid/graphql',
    wsUrl: 'ws://api.invalid/graphql/ws',
    webSocketImpl: WebSocket, // never opened: the socket opens with a subscription
    getToken: async () => null,
    fetch,
  });
  await assert.rejects(api.execute(generated.PostPublishedDocument), /use subscribe\(\)/);
  assert.throws(
    () => api.subscribe(generated.HealthDocument, { next: () => {} }),
    /takes a subscription/,
  );
  assert.equal(bodies.length, 0);
});

test('variables are typed: tsc refuses a missing or mistyped one', async () => {
  // Checked when the tests compile (each @ts-expect-error must meet an error); run, they are
  // refused by the server, here by nobody: the fake fetch answers them all.
  const { fetch, bodies } = capturingFetch();
  const api = createApiClient({
    url: 'http://api.invalid/graphql',
    getToken: async () => null,
    fetch,
  });
  // @ts-expect-error: `id` is required
  await api.execute(generated.PostDocument);
  // @ts-expect-error: `first` is an Int
  await api.execute(generated.PostsDocument, { first: 'ten' });
  // @ts-expect-error: `Health` has no variables
  await api.execute(generated.HealthDocument, { first: 1 });
  await api.execute(generated.HealthDocument);
  await api.execute(generated.PostsDocument);
  assert.equal(bodies.length, 5);
});
