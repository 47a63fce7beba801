// Queries and mutations against the real server in dev mode: the token header, the refresh of
// an expired token, errors typed by code, and every example operation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'graphql';
import {
  CreatePostDocument,
  DeletePostDocument,
  EchoDocument,
  HealthDocument,
  MeDocument,
  NoteDocument,
  NotesDocument,
  PostDocument,
  PostsDocument,
  UpdatePostDocument,
  UserDocument,
  UsersDocument,
  ViewerDocument,
} from '../src/generated/graphql.js';
import { apiClient, expired, fakeClerk, mint, recordingFetch, signedOut } from './helpers.js';

test('signed out, no Authorization header is sent, and the viewer is anonymous', async () => {
  const { fetch, exchanges } = recordingFetch();
  const result = await apiClient({ getToken: signedOut, fetch }).execute(ViewerDocument);
  assert.deepEqual(result, { data: { viewer: null }, status: 200 });
  assert.equal(exchanges.length, 1);
  assert.equal(exchanges[0].authorization, null);
});

test('signed in, the token goes as a Bearer header', async () => {
  const clerk = fakeClerk('user_ts_signed_in');
  const { fetch, exchanges } = recordingFetch();
  const result = await apiClient({ getToken: clerk.getToken, fetch }).execute(ViewerDocument);
  assert.equal(result.data?.viewer?.userId, 'user_ts_signed_in');
  assert.equal(result.data?.viewer?.sessionId, 'sess_dev_ts_signed_in');
  assert.equal(exchanges[0].authorization, `Bearer ${clerk.minted[0]}`);
  assert.equal(clerk.skipCacheCalls, 0);
});

test('an expired token: getToken({ skipCache: true }) once, and the request once more', async () => {
  const stale = mint('user_ts_stale', { ttl: 1 });
  await expired(stale);
  // Clerk's cache hands out what it holds (as with a client clock behind the server's).
  const clerk = fakeClerk('user_ts_stale', { leewaySecs: -Infinity }).cache(stale);
  const { fetch, exchanges } = recordingFetch();
  const api = apiClient({ getToken: clerk.getToken, fetch });
  // A mutation too: a 401 is a request refused before it ran.
  const result = await api.execute(EchoDocument, { message: 'after a refresh' });
  assert.deepEqual(result, { data: { echo: 'user_ts_stale: after a refresh' }, status: 200 });
  assert.equal(clerk.skipCacheCalls, 1);
  assert.deepEqual(
    exchanges.map((e) => [e.status, e.authorization]),
    [
      [401, `Bearer ${stale}`],
      [200, `Bearer ${clerk.minted[0]}`],
    ],
  );
});

test('a refresh that brings an expired token again is not retried a second time', async () => {
  const stale = mint('user_ts_stale_again', { ttl: 1 });
  await expired(stale);
  const clerk = { skipCacheCalls: 0 };
  const { fetch, exchanges } = recordingFetch();
  const api = apiClient({
    getToken: async (options) => {
      if (options?.skipCache) clerk.skipCacheCalls += 1;
      return stale;
    },
    fetch,
  });
  const result = await api.execute(ViewerDocument);
  assert.equal(result.status, 401);
  assert.equal(result.errors?.[0].extensions.code, 'UNAUTHENTICATED');
  assert.equal(result.errors?.[0].extensions.reason, 'token_expired');
  assert.equal(clerk.skipCacheCalls, 1);
  assert.deepEqual(
    exchanges.map((e) => e.status),
    [401, 401],
  );
});

test('a token refused for another reason is not refreshed', async () => {
  const token = mint('user_ts_tampered');
  const [header, payload, signature] = token.split('.');
  const tampered = `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
  let skipCacheCalls = 0;
  const { fetch, exchanges } = recordingFetch();
  const result = await apiClient({
    getToken: async (options) => {
      if (options?.skipCache) skipCacheCalls += 1;
      return tampered;
    },
    fetch,
  }).execute(HealthDocument);
  assert.equal(result.status, 401);
  assert.equal(result.errors?.[0].extensions.code, 'UNAUTHENTICATED');
  assert.equal(result.errors?.[0].extensions.reason, 'token_invalid_signature');
  assert.equal(skipCacheCalls, 0);
  assert.equal(exchanges.length, 1);
});

test('GraphQL errors come back typed by code', async () => {
  const anonymous = apiClient({ getToken: signedOut });
  const me = await anonymous.execute(MeDocument);
  assert.equal(me.status, 200);
  assert.equal(me.data?.me, null);
  assert.equal(me.errors?.[0].extensions.code, 'UNAUTHENTICATED');

  const member = apiClient({ getToken: fakeClerk('user_ts_errors').getToken });
  const users = await member.execute(UsersDocument, { first: 5 });
  assert.equal(users.errors?.[0].extensions.code, 'FORBIDDEN');
  const empty = await member.execute(CreatePostDocument, { input: { title: '   ' } });
  assert.equal(empty.errors?.[0].extensions.code, 'BAD_USER_INPUT');
  assert.equal(empty.errors?.[0].extensions.field, 'title');
  const missing = await member.execute(UpdatePostDocument, {
    id: '00000000-0000-7000-8000-000000000000',
    input: { title: 'nothing here' },
  });
  assert.equal(missing.errors?.[0].extensions.code, 'NOT_FOUND');

  // Request errors are 400 under application/graphql-response+json, typed all the same.
  const invalid = await member.execute(parse('query Invalid { nothingHere }'));
  assert.equal(invalid.status, 400);
  assert.equal(invalid.data, undefined);
  assert.equal(invalid.errors?.[0].extensions.code, 'GRAPHQL_VALIDATION_FAILED');
});

test('every example query and mutation runs as generated', async () => {
  const author = fakeClerk('user_ts_examples');
  const api = apiClient({ getToken: author.getToken });

  assert.deepEqual((await api.execute(HealthDocument)).data, { health: 'ok' });
  assert.equal((await api.execute(MeDocument)).data?.me?.id, 'user_ts_examples');

  const created = await api.execute(CreatePostDocument, {
    input: { title: 'Typed', body: 'from the TypeScript client', published: true },
  });
  assert.equal(created.errors, undefined, JSON.stringify(created.errors));
  const post = created.data!.createPost;
  assert.equal(post.author?.id, 'user_ts_examples');
  const updated = await api.execute(UpdatePostDocument, {
    id: post.id,
    input: { title: 'Typed, twice' },
  });
  assert.equal(updated.data?.updatePost.title, 'Typed, twice');
  assert.equal(
    (await api.execute(PostDocument, { id: post.id })).data?.post?.title,
    'Typed, twice',
  );
  const page = await api.execute(PostsDocument, { first: 20 });
  assert.ok(page.data?.posts.nodes.some((p) => p.id === post.id));
  const user = await api.execute(UserDocument, { id: 'user_ts_examples' });
  assert.equal(user.data?.posts.nodes[0]?.id, post.id, 'newest first');
  assert.deepEqual((await api.execute(DeletePostDocument, { id: post.id })).data, {
    deletePost: post.id,
  });
  assert.equal((await api.execute(PostDocument, { id: post.id })).data?.post, null);
  assert.deepEqual((await api.execute(EchoDocument, { message: 'hi' })).data, {
    echo: 'user_ts_examples: hi',
  });

  const notes = await api.execute(NotesDocument);
  assert.deepEqual(notes.data?.memberNote, { id: 'member', text: 'the member note' });
  assert.equal(notes.data?.adminNote, null);
  assert.deepEqual(notes.errors?.map((e) => [e.path?.[0], e.extensions.code]).sort(), [
    ['adminNote', 'FORBIDDEN'],
    ['billingNote', 'FORBIDDEN'],
    ['orgAdminNote', 'FORBIDDEN'],
  ]);
  assert.deepEqual((await api.execute(NoteDocument, { id: 'public' })).data, {
    note: { __typename: 'PublicNote', id: 'public', text: 'the public note' },
  });

  // The admin role: dev tokens carry it in `metadata.role`.
  const adminToken = mint('user_ts_examples_admin', { role: 'admin' });
  const users = await apiClient({ getToken: async () => adminToken }).execute(UsersDocument, {
    first: 50,
  });
  assert.equal(users.errors, undefined, JSON.stringify(users.errors));
  assert.ok(users.data?.users.nodes.some((u) => u.id === 'user_ts_examples'));
});
