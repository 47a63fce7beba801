// The graphql-ws client (what Apollo Client, urql and Relay use for subscriptions) against the
// real server in dev mode, run by scripts/conformance with:
//   GRAPHQL_URL, GRAPHQL_WS_URL   the server's endpoints
//   CLERK_GRAPHQL_BIN, DEV_KEYS_DIR  to mint dev tokens (`clerk-graphql dev-token`)
// The server runs with CLERK_CLOCK_SKEW_SECS=0, so a token expires when it says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const { GRAPHQL_URL, GRAPHQL_WS_URL, CLERK_GRAPHQL_BIN, DEV_KEYS_DIR } = process.env;

function mint(user, ttl = 600) {
  return execFileSync(CLERK_GRAPHQL_BIN, ['dev-token', '--user', user, '--ttl', String(ttl)], {
    // Nothing of the caller's environment but the path: a Clerk key there would end dev mode.
    env: { PATH: process.env.PATH, APP_ENV: 'development', DEV_KEYS_DIR },
    encoding: 'utf8',
  }).trim();
}

async function graphql(query, token) {
  const response = await fetch(GRAPHQL_URL, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query }),
  });
  return response.json();
}

async function publish(title, token) {
  const result = await graphql(
    `mutation { createPost(input: {title: "${title}", published: true}) { id } }`,
    token,
  );
  assert.equal(result.errors, undefined, JSON.stringify(result));
}

/** The next `count` results of a subscription, through the client's sink. */
function collect(client, query, count) {
  const results = [];
  let dispose;
  const done = new Promise((resolve, reject) => {
    dispose = client.subscribe(
      { query },
      {
        next: (result) => {
          results.push(result);
          if (results.length === count) resolve(results);
        },
        error: reject,
        complete: () => resolve(results),
      },
    );
  });
  return { done, dispose: () => dispose() };
}

/** Resolves when the client connected `times` times. */
function connections(client, times) {
  let seen = 0;
  return new Promise((resolve) => {
    client.on('connected', () => {
      seen += 1;
      if (seen === times) resolve();
    });
  });
}

const until = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('a subscription with async connectionParams receives events', async () => {
  const token = mint('user_ws_1');
  const client = createClient({
    url: GRAPHQL_WS_URL,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: async () => ({ Authorization: `Bearer ${token}` }),
  });
  const connected = connections(client, 1);
  const events = collect(client, 'subscription { myPostEvents { kind post { title } } }', 2);
  await connected;
  await until(200);
  await publish('Hello from graphql-ws', token);
  const [created, published] = await events.done;
  assert.deepEqual(created.data.myPostEvents, {
    kind: 'CREATED',
    post: { title: 'Hello from graphql-ws' },
  });
  assert.equal(published.data.myPostEvents.kind, 'PUBLISHED');
  events.dispose();
  await client.dispose();
});

test('a refused operation rejects with typed errors, and the connection goes on', async () => {
  const client = createClient({ url: GRAPHQL_WS_URL, webSocketImpl: WebSocket, retryAttempts: 0 });
  const refused = collect(client, 'subscription { myPostEvents { kind } }', 1);
  await assert.rejects(refused.done, (errors) => {
    assert.ok(Array.isArray(errors), String(errors));
    assert.equal(errors[0].extensions.code, 'UNAUTHENTICATED');
    return true;
  });
  const result = await collect(client, '{ health }', 1).done;
  assert.deepEqual(result[0].data, { health: 'ok' });
  await client.dispose();
});

test('after its token expires the socket closes with 4403 and graphql-ws reconnects with a fresh one', async () => {
  const tokens = [mint('user_ws_2', 2), mint('user_ws_2', 600)];
  const closes = [];
  let asked = 0;
  const client = createClient({
    url: GRAPHQL_WS_URL,
    webSocketImpl: WebSocket,
    retryAttempts: 3,
    retryWait: () => until(100),
    connectionParams: async () => ({ token: tokens[Math.min(asked++, 1)] }),
    on: { closed: (event) => closes.push(event.code) },
  });
  const reconnected = connections(client, 2);
  const events = collect(client, 'subscription { myPostEvents { kind post { title } } }', 1);
  await reconnected;
  assert.deepEqual(closes, [4403]);
  assert.equal(asked, 2, 'connectionParams called again');
  await until(200);
  await publish('After reconnecting', tokens[1]);
  const [event] = await events.done;
  assert.equal(event.data.myPostEvents.post.title, 'After reconnecting');
  events.dispose();
  await client.dispose();
});

test('a bad token is refused with 4403', async () => {
  const closed = new Promise((resolve) => {
    const client = createClient({
      url: GRAPHQL_WS_URL,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { Authorization: 'Bearer not.a.token' },
      on: { closed: (event) => resolve(event.code) },
    });
    collect(client, '{ health }', 1).done.catch(() => {});
  });
  assert.equal(await closed, 4403);
});

/** A raw socket, for what no well-behaved client sends. */
function raw(messages) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(GRAPHQL_WS_URL, 'graphql-transport-ws');
    socket.on('open', () => messages.forEach((m) => socket.send(m)));
    socket.on('close', (code) => resolve(code));
    socket.on('error', reject);
  });
}

test('protocol violations close with the codes graphql-transport-ws defines', async () => {
  const init = JSON.stringify({ type: 'connection_init' });
  const subscribe = (id) =>
    JSON.stringify({ type: 'subscribe', id, payload: { query: 'subscription { postPublished { title } }' } });
  assert.equal(await raw(['{not json']), 4400);
  assert.equal(await raw([subscribe('1')]), 4401);
  assert.equal(await raw([init, init]), 4429);
  assert.equal(await raw([init, subscribe('1'), subscribe('1')]), 4409);
});

test('a client that never sends connection_init is closed with 4408', { timeout: 20_000 }, async () => {
  assert.equal(await raw([]), 4408);
});
